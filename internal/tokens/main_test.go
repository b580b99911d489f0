package tokens

import (
	"fmt"
	"os"
	"testing"
)

// TestMain checks, before any test touches an encoding, that importing the
// package built no vocabulary: startup must not pay for it.
func TestMain(m *testing.M) {
	if o200kBase.tab != nil || cl100kBase.tab != nil {
		fmt.Fprintln(os.Stderr, "tokens: a vocabulary was built at package init; it must load on first use")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
