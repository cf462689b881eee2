package api

import (
	"slices"
	"testing"
)

// TestOperationsCoverRoutes: every method of every control-plane route has
// an operation name, and Operations lists it, so that request metrics are
// created for it before the first request.
func TestOperationsCoverRoutes(t *testing.T) {
	ops := Operations()
	for _, rt := range New(Options{}).controlRoutes() {
		for method := range rt.methods {
			op := controlOperation(rt.pattern, method)
			if op == OpUnknown {
				t.Errorf("%s %v has no operation name", method, rt.pattern)
			}
			if !slices.Contains(ops, op) {
				t.Errorf("Operations lacks %s", op)
			}
		}
	}
	for _, c := range sessionCommands {
		if !slices.Contains(ops, c) {
			t.Errorf("Operations lacks %s", c)
		}
	}
}
