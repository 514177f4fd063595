package parent

// BeginDrain makes /readyz answer 503 from now on, while requests are still
// routed as before: the first step of a drain, so that load balancers stop
// sending new connections before the listener stops taking them. Shutdown
// follows, once the HTTP server has stopped accepting and drained.
func (g *Gateway) BeginDrain() { g.unready.Store(true) }
