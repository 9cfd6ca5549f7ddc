"""What every service's GraphQL adapter shares: schema building with limits, the error map's
common part, the context, the router (HTTP and graphql-transport-ws) and a small client."""
