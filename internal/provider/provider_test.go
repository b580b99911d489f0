package provider

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrors(t *testing.T) {
	tests := []struct {
		err    error
		msg    string
		client bool
	}{
		{Unsupported("n", ""), "unsupported for this upstream: n", true},
		{Unsupported("tools[0].type", "web_search"), "unsupported for this upstream: tools[0].type: web_search", true},
		{fmt.Errorf("translate: %w", Invalid("messages[1].tool_call_id", "required")), "translate: invalid messages[1].tool_call_id: required", true},
		{&StreamError{Type: "overloaded_error", Message: "Overloaded"}, "upstream stream error: overloaded_error: Overloaded", false},
		{errors.New("other"), "other", false},
	}
	for _, tt := range tests {
		if tt.err.Error() != tt.msg {
			t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.msg)
		}
		if IsClientError(tt.err) != tt.client {
			t.Errorf("IsClientError(%v) = %v", tt.err, !tt.client)
		}
	}
}
