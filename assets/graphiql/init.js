// Renders GraphiQL against this server's /graphql. A file of its own (not inline) so the
// page's Content-Security-Policy can forbid inline scripts.
const fetcher = GraphiQL.createFetcher({ url: '/graphql' });
ReactDOM.createRoot(document.getElementById('graphiql'))
  .render(React.createElement(GraphiQL, { fetcher, defaultQuery: '{\n  authProviders\n  me { id email role }\n}\n' }));
