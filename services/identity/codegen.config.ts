/** Resolver parents are DB rows (plus the viewer they were loaded for); see src/parents.ts. */
export default {
  contextType: '../context#Context',
  mappers: {
    User: '../parents#UserParent',
    Organization: '../parents#OrganizationParent',
    Membership: '../parents#MembershipParent',
    AuthPayload: '../parents#AuthPayloadParent',
    ApiKey: '../store/identity-store#ApiKeyRow',
    AuditEntry: '../store/identity-store#AuditRow',
    ApiKeyCreated: '../parents#ApiKeyCreatedParent',
    MyDataExport: '../resolvers/MyDataExport#MyDataExportParent',
  },
};
