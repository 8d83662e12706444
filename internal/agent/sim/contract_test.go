package sim_test

import (
	"testing"

	"skiff/internal/agent"
	"skiff/internal/agent/runtimetest"
	"skiff/internal/agent/sim"
)

func TestContract(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) agent.Runtime {
		rt, err := sim.New(sim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return rt
	})
}
