// Package policy holds the strategy of policy/v1 poddisruptionbudgets.
package policy
