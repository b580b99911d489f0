package pool

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
)

// Bedrock, vertex and flavored openai channels through the console's
// store methods: the file's defaults, its field-named errors, and
// credentials in each channel's own shape.
func TestUpstreamChannelsCRUD(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := newTestStore(t, openDB(t, url))
		groups := []string{"default"}

		br, err := s.CreateChannel(ctx, ChannelPatch{Name: ptr("br"), Type: ptr("bedrock"), Region: ptr("eu-west-1"),
			Models: ptr([]string{"claude"})}, groups)
		if err != nil {
			t.Fatal(err)
		}
		if br.Config.BaseURL != "https://bedrock-runtime.eu-west-1.amazonaws.com" {
			t.Errorf("bedrock base_url %q", br.Config.BaseURL)
		}
		// Moving the region moves the default endpoint along.
		_, after, err := s.UpdateChannel(ctx, br.ID, ChannelPatch{Region: ptr("us-east-1")}, groups)
		if err != nil || after.Config.BaseURL != "https://bedrock-runtime.us-east-1.amazonaws.com" || after.Config.Region != "us-east-1" {
			t.Errorf("region update: %v %+v", err, after.Config)
		}
		vx, err := s.CreateChannel(ctx, ChannelPatch{Name: ptr("vx"), Type: ptr("vertex"), Project: ptr("proj"),
			Location: ptr("global"), Models: ptr([]string{"gemini-2.5-flash"})}, groups)
		if err != nil {
			t.Fatal(err)
		}
		if vx.Config.BaseURL != "https://aiplatform.googleapis.com" {
			t.Errorf("vertex base_url %q", vx.Config.BaseURL)
		}
		// A private endpoint stays when the location changes; one sent empty
		// is the default again.
		_, after, err = s.UpdateChannel(ctx, vx.ID, ChannelPatch{BaseURL: ptr("http://127.0.0.1:9")}, groups)
		if err == nil {
			_, after, err = s.UpdateChannel(ctx, vx.ID, ChannelPatch{Location: ptr("europe-west4")}, groups)
		}
		if err != nil || after.Config.BaseURL != "http://127.0.0.1:9" || after.Config.Location != "europe-west4" {
			t.Errorf("location update: %v %+v", err, after.Config)
		}
		if _, after, err = s.UpdateChannel(ctx, vx.ID, ChannelPatch{BaseURL: ptr("")}, groups); err != nil ||
			after.Config.BaseURL != "https://europe-west4-aiplatform.googleapis.com" {
			t.Errorf("base_url sent empty: %v %+v", err, after.Config)
		}
		fl, err := s.CreateChannel(ctx, ChannelPatch{Name: ptr("ds"), Type: ptr("openai"), BaseURL: ptr("http://up.example"),
			Flavor: ptr("deepseek"), Models: ptr([]string{"deepseek-chat"})}, groups)
		if err != nil || !fl.Config.HasQuirk(config.QuirkMaxTokens) {
			t.Fatalf("flavored channel: %v %+v", err, fl.Config)
		}
		stored, err := s.ChannelByID(ctx, fl.ID)
		if err != nil || stored.Config.Flavor != "deepseek" {
			t.Errorf("stored flavor: %v %q", err, stored.Config.Flavor)
		}
		// A keyless server gets its credential without a key, as in the file.
		ol, err := s.CreateChannel(ctx, ChannelPatch{Name: ptr("ol"), Type: ptr("openai"), BaseURL: ptr("http://127.0.0.1:11434/v1"),
			Flavor: ptr("ollama"), Models: ptr([]string{"llama3"})}, groups)
		if err != nil {
			t.Fatal(err)
		}
		if creds, err := s.CredentialsOf(ctx, ol.ID, 0, 0); err != nil || len(creds) != 1 || creds[0].Secret.Key != "" {
			t.Errorf("keyless channel's credentials: %v %+v", err, creds)
		}
		// So does a channel that becomes one, once however often it is saved.
		for range 2 {
			if _, _, err := s.UpdateChannel(ctx, fl.ID, ChannelPatch{Flavor: ptr("vllm")}, groups); err != nil {
				t.Fatal(err)
			}
		}
		if creds, err := s.CredentialsOf(ctx, fl.ID, 0, 0); err != nil || len(creds) != 1 {
			t.Errorf("channel made keyless: %v %d credentials", err, len(creds))
		}
		if _, _, err := s.UpdateChannel(ctx, fl.ID, ChannelPatch{Flavor: ptr("deepseek")}, groups); err != nil {
			t.Fatal(err)
		}

		// The file's errors, by field.
		for _, tc := range []struct {
			p     ChannelPatch
			field string
		}{
			{ChannelPatch{Name: ptr("x1"), Type: ptr("bedrock"), Region: ptr("Mars"), Models: ptr([]string{"m"})}, "region"},
			{ChannelPatch{Name: ptr("x2"), Type: ptr("openai"), BaseURL: ptr("http://u"), Region: ptr("us-east-1"), Models: ptr([]string{"m"})}, "region"},
			{ChannelPatch{Name: ptr("x3"), Type: ptr("vertex"), Location: ptr("us-central1"), Models: ptr([]string{"m"})}, "project"},
			{ChannelPatch{Name: ptr("x4"), Type: ptr("vertex"), Project: ptr("p"), Location: ptr("Nowhere!"), Models: ptr([]string{"m"})}, "location"},
			{ChannelPatch{Name: ptr("x5"), Type: ptr("openai"), BaseURL: ptr("http://u"), Flavor: ptr("gpt5"), Models: ptr([]string{"m"})}, "flavor"},
			{ChannelPatch{Name: ptr("x6"), Type: ptr("anthropic"), BaseURL: ptr("http://u"), Flavor: ptr("qwen"), Models: ptr([]string{"m"})}, "flavor"},
			{ChannelPatch{Name: ptr("x7"), Type: ptr("openai"), BaseURL: ptr("http://u"), Quirks: ptr([]string{"nope"}), Models: ptr([]string{"m"})}, "quirks[0]"},
		} {
			if _, err := s.CreateChannel(ctx, tc.p, groups); fieldOf(err) != tc.field {
				t.Errorf("%s: error %v, want field %s", *tc.p.Name, err, tc.field)
			}
		}
		if _, _, err := s.UpdateChannel(ctx, vx.ID, ChannelPatch{Project: ptr(" ")}, groups); fieldOf(err) != "project" {
			t.Errorf("empty project on update: %v", err)
		}

		// Credentials in each channel's shape; secrets sealed.
		akid, secret := "AKIDCONSOLE0000001", "s3cr3t/Console+Key0000000000000000000000"
		c, err := s.AddCredential(ctx, br.ID, NewCredential{AccessKeyID: ptr(akid), SecretAccessKey: ptr(secret + "\n")})
		if err != nil || c.Secret.Key != akid+":"+secret || c.Kind != KindKey {
			t.Fatalf("bedrock credential: %v %+v", err, c.Kind)
		}
		if h := Hint(c.Secret); strings.Contains(h, secret[len(secret)-4:]) || !strings.HasPrefix(h, "AKI") {
			t.Errorf("bedrock hint %q", h)
		}
		for _, tc := range []struct {
			n     NewCredential
			field string
		}{
			{NewCredential{AccessKeyID: ptr("AKIDONLY")}, "secret_access_key"},
			{NewCredential{SecretAccessKey: ptr("x")}, "access_key_id"},
			{NewCredential{Key: ptr("no-colon-key-0000000")}, "key"},
			{NewCredential{AccessToken: ptr("tok")}, "access_token"},
		} {
			if _, err := s.AddCredential(ctx, br.ID, tc.n); fieldOf(err) != tc.field {
				t.Errorf("bedrock %+v: %v, want field %s", tc.n, err, tc.field)
			}
		}
		pretty := strings.ReplaceAll(saFile, ",", ",\n  ")
		v, err := s.AddCredential(ctx, vx.ID, NewCredential{ServiceAccount: ptr(pretty)})
		if err != nil || v.Secret.RefreshToken != saFile {
			t.Fatalf("vertex credential: %v, stored compact %v", err, v.Secret.RefreshToken == saFile)
		}
		if _, err := s.AddCredential(ctx, vx.ID, NewCredential{ServiceAccount: ptr(`{"type":"authorized_user"}`)}); fieldOf(err) != "service_account" {
			t.Errorf("not a service account: %v", err)
		}
		if _, err := s.AddCredential(ctx, vx.ID, NewCredential{Key: ptr("sk-0000000000000000")}); fieldOf(err) == "" {
			t.Errorf("a key in a vertex channel: %v", err)
		}
		if _, err := s.AddCredential(ctx, fl.ID, NewCredential{AccessKeyID: ptr(akid), SecretAccessKey: ptr(secret)}); fieldOf(err) != "access_key_id" {
			t.Errorf("an AWS key in an openai channel: %v", err)
		}
		// A vertex credential's options are editable (its key file is kept
		// as the refresh token, which must not read as one).
		if _, after, err := s.UpdateCredential(ctx, v.ID, CredentialPatch{Weight: ptr(3)}); err != nil || after.Options.Weight != 3 {
			t.Errorf("update vertex credential: %v %+v", err, after.Options)
		}
		// Never stored in the clear.
		var sealed string
		if err := s.db.Read().QueryRowContext(ctx, s.db.Dialect().Rebind("SELECT sealed FROM credentials WHERE id = ?"), c.ID).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sealed, secret) || strings.Contains(sealed, akid) {
			t.Error("the AWS key is stored in the clear")
		}
	})
}

// Import takes a bedrock channel's access keys as lines or JSON fields and
// a vertex channel's key file pasted as downloaded.
func TestImportUpstreamCredentials(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t, openDB(t, "sqlite://"+t.TempDir()+"/sy.db"))
	br, err := s.CreateChannel(ctx, ChannelPatch{Name: ptr("br"), Type: ptr("bedrock"), Region: ptr("us-east-1"), Models: ptr([]string{"m"})}, []string{"default"})
	if err != nil {
		t.Fatal(err)
	}
	vx, err := s.CreateChannel(ctx, ChannelPatch{Name: ptr("vx"), Type: ptr("vertex"), Project: ptr("p"), Location: ptr("us-east5"), Models: ptr([]string{"m"})}, []string{"default"})
	if err != nil {
		t.Fatal(err)
	}
	run := func(chID int64, text string, want ...string) []ImportResult {
		t.Helper()
		entries, err := ParseImport(strings.NewReader(text))
		if err != nil {
			t.Fatalf("parse %q: %v", text, err)
		}
		res, err := s.ImportInto(ctx, chID, entries)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(want) {
			t.Fatalf("%d results %+v, want %d", len(res), res, len(want))
		}
		for i, r := range res {
			if r.Outcome != want[i] {
				t.Errorf("%q entry %d: %s (%s), want %s", text, i+1, r.Outcome, r.Reason, want[i])
			}
		}
		return res
	}
	run(br.ID, "AKIDLINE1:secret1\nAKIDLINE2:secret2:session2\nsk-not-an-aws-key-000000\n",
		ImportAdded, ImportAdded, ImportInvalid)
	// The AWS console's accessKeys.csv, as downloaded (CRLF, a BOM).
	res := run(br.ID, "\ufeffAccess key ID,Secret access key\r\nAKIDCSV1,csv/secret+1\r\n", ImportAdded)
	if rec, err := s.LoadCredential(ctx, res[0].ID); err != nil || rec.Secret.Key != "AKIDCSV1:csv/secret+1" {
		t.Errorf("csv key: %v", err)
	}
	res = run(br.ID, `[{"access_key_id":"AKIDJSON1","secret_access_key":"secretj","session_token":"tok"},`+
		`{"access_key_id":"AKIDLINE1","secret_access_key":"secret1"},{"access_key_id":"AKIDJSON2"}]`,
		ImportAdded, ImportDuplicate, ImportInvalid)
	if !strings.Contains(res[2].Reason, "secret_access_key") {
		t.Errorf("reason %q names no field", res[2].Reason)
	}
	rec, err := s.LoadCredential(ctx, res[0].ID)
	if err != nil || rec.Secret.Key != "AKIDJSON1:secretj:tok" {
		t.Errorf("packed key: %v", err)
	}
	// The key file as downloaded: one multi-line JSON document.
	pretty := "{\n  " + strings.ReplaceAll(strings.Trim(saFile, "{}"), `","`, "\",\n  \"") + "\n}\n"
	res = run(vx.ID, pretty, ImportAdded)
	run(vx.ID, saFile, ImportDuplicate)
	if rec, err := s.LoadCredential(ctx, res[0].ID); err != nil || rec.Secret.RefreshToken != saFile {
		t.Errorf("stored key file: %v", err)
	}
	run(vx.ID, `{"type":"service_account","client_email":"x@y.z"}`, ImportInvalid)
	// AWS keys belong to bedrock channels only.
	run(vx.ID, `[{"access_key_id":"AKIDJSON1","secret_access_key":"secretj"}]`, ImportInvalid)
	if _, err := ParseImport(strings.NewReader(`{"type":"service_account"} {}`)); err == nil {
		t.Error("two JSON documents read as one")
	}
}
