// Resolvers return store rows; codegen types them through these mappers (paths relative to src/__generated__/).
export default {
  mappers: {
    Customer: '../store/customer-store#CustomerRow',
    Contact: '../store/customer-store#ContactRow',
    HealthScore: '../domain/health#HealthScoreView',
    MyDataExport: '../resolvers/MyDataExport#MyDataExportParent',
    Connection: '../store/connection-store#ConnectionRow',
    ConnectionSync: '../store/connection-store#SyncRow',
    ConnectionDelivery: '../store/connection-store#DeliveryRow',
    ConnectionCreated: '../commands/connection-commands#ConnectionCreatedView',
    ConnectionSecretRotated: '../commands/connection-commands#SecretRotatedView',
  },
  contextType: '../context#Context',
};
