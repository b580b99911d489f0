package pool

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
)

// saFile is a key-file shape (the config checks the shape, not the key).
const saFile = `{"type":"service_account","client_email":"imp@p.iam.gserviceaccount.com",` +
	`"private_key":"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"}`

func TestImportServiceAccounts(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t, openDB(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db")))
	chs := append(testChannels(), config.Channel{Name: "vx", Type: "vertex", Project: "p", Location: "us-east5",
		BaseURL: "https://us-east5-aiplatform.googleapis.com", Models: []string{"gemini-2.5-flash"}})
	if err := s.ApplyConfig(ctx, chs); err != nil {
		t.Fatal(err)
	}
	quoted := strings.ReplaceAll(strings.ReplaceAll(saFile, `\`, `\\`), `"`, `\"`)
	other := strings.Replace(saFile, "imp@", "imp2@", 1)
	entries, err := ParseImport(strings.NewReader(`[{"service_account": ` + saFile + `},` +
		`{"service_account": "` + quoted + `"},` + // the same account as a string: a duplicate
		`{"service_account": ` + other + `, "key": "sk-0000000000000000"},` +
		`{"key": "sk-1111111111111111"}]`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Import(ctx, "vx", entries)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ImportAdded, ImportDuplicate, ImportInvalid, ImportInvalid}
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Errorf("entry %d: %s (%s), want %s", i+1, r.Outcome, r.Reason, want[i])
		}
		if strings.Contains(r.Reason, "PRIVATE KEY") {
			t.Errorf("entry %d: reason quotes the key: %s", i+1, r.Reason)
		}
	}
	rec, err := s.LoadCredential(ctx, res[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != KindOAuth || rec.Secret.RefreshToken != saFile {
		t.Errorf("stored kind %s, key file kept: %v", rec.Kind, rec.Secret.RefreshToken == saFile)
	}
	// Only vertex channels take service accounts.
	entries, _ = ParseImport(strings.NewReader(`[{"service_account": ` + saFile + `}]`))
	res, err = s.Import(ctx, "alpha", entries)
	if err != nil || res[0].Outcome != ImportInvalid {
		t.Fatalf("service account into an openai channel: %v %+v", err, res)
	}
}
