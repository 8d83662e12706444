package server

// builtinComponents returns every component skiff server can run. Each
// component's wiring is a function in its own file of this package.
func builtinComponents(cfg Config) []component {
	return nil
}
