package main

import "testing"

func TestHasNonIdentifierName(t *testing.T) {
	tests := []struct {
		env  []string
		want bool
	}{
		{[]string{"PATH=/bin", "HOME=/root", "A_1=x"}, false},
		{[]string{"PATH=/bin", "data-1=value-1"}, true},
		{[]string{"1ABC=x"}, true},
		{[]string{"p.data=x"}, true},
		{nil, false},
	}
	for _, tt := range tests {
		if got := hasNonIdentifierName(tt.env); got != tt.want {
			t.Errorf("hasNonIdentifierName(%q) = %v, want %v", tt.env, got, tt.want)
		}
	}
}
