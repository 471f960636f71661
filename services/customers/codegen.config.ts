// Resolvers return store rows; codegen types them through these mappers (paths relative to src/__generated__/).
export default {
  mappers: {
    Customer: '../store/customer-store#CustomerRow',
    Contact: '../store/customer-store#ContactRow',
    HealthScore: '../domain/health#HealthScoreView',
    MyDataExport: '../resolvers/MyDataExport#MyDataExportParent',
  },
  contextType: '../context#Context',
};
