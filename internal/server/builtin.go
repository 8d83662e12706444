package server

// builtinComponents returns every component skiff server can run, in start
// order. Each component's wiring is a function in its own file of this
// package. The node-level ones (agent, service proxy, cluster DNS) run only
// when this host runs an agent.
func builtinComponents(cfg Config) []component {
	out := []component{controllersComponent(cfg), schedulerComponent(cfg)}
	if !cfg.DisableAgent {
		out = append(out, agentComponent(cfg), proxyComponent(cfg), dnsComponent(cfg))
	}
	return out
}

// knownDisableNames are what --disable accepts: components and single
// controllers.
func knownDisableNames(cfg Config) map[string]bool {
	names := map[string]bool{}
	for _, c := range Components {
		names[c] = true
	}
	for n := range controllerConstructors(cfg) {
		names[n] = true
	}
	for n := range moreControllerConstructors(cfg) {
		names[n] = true
	}
	return names
}
