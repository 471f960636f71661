/** Resolvers return store rows; codegen types them through these mappers (paths relative to src/__generated__). */
export default {
  contextType: '../context#Context',
  mappers: {
    Task: '../store/task-store#TaskRow',
    Approval: '../store/task-store#ApprovalRow',
    Comment: '../store/task-store#CommentRow',
    TaskConnection: '../store/task-store#TaskPage',
    TaskEdge: '../store/task-store#TaskRow',
    SearchResults: '../resolvers/Search#SearchResultsModel',
    SearchEdge: '../resolvers/Search#SearchHitModel',
    SearchHit: '../resolvers/Search#SearchHitModel',
    User: '../resolvers/refs#EntityRef',
    Agent: '../resolvers/refs#EntityRef',
    Customer: '../resolvers/refs#EntityRef',
    MyDataExport: '../resolvers/MyDataExport#MyDataExportParent',
  },
};
