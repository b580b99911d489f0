package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/switchyard/switchyard/internal/audit"
	"github.com/switchyard/switchyard/internal/store"
)

// auditCLI records a write made from the command line in the audit log,
// as the console API records its own: actor "cli", the command as the
// route. Call it after the write succeeded. A failure to record is
// reported on stderr but does not fail the command: the write is done,
// and saying otherwise would invite running it twice.
func auditCLI(ctx context.Context, db *store.DB, stderr io.Writer, command []string, action, target string, before, after any) {
	e := audit.Entry{ActorEmail: "cli", Via: "cli", Route: "switchyard " + strings.Join(command, " "),
		Action: action, Target: target, Before: rawJSON(before), After: rawJSON(after)}
	if err := audit.NewStore(db, nil).Record(ctx, e); err != nil {
		fmt.Fprintf(stderr, "switchyard: warning: the change is made but was not written to the audit log: %v\n", err)
	}
}

func rawJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
