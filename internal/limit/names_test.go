package limit

import (
	"strconv"
	"testing"

	"github.com/switchyard/switchyard/internal/auth"
)

// The memo of rule names must give each key and group its own names, also
// after it has started over past its bound.
func TestRuleNamesMemo(t *testing.T) {
	for i := int64(1); i <= maxMemoKeys+10; i++ {
		k := &auth.Key{ID: i, Group: "g" + strconv.FormatInt(i%50, 10)}
		n, g := keyRules(k), groupRules(k)
		id, grp := strconv.FormatInt(i, 10), k.Group
		if n.rpm != "k:"+id+":rpm" || n.day != "k:"+id+":day" || n.tpm != "k:"+id+":tpm" {
			t.Fatalf("key %d: names %+v", i, *n)
		}
		if g.rpm != "g:"+grp+":rpm" || g.day != "g:"+grp+":day" || g.tpm != "g:"+grp+":tpm" {
			t.Fatalf("group %s: names %+v", grp, *g)
		}
	}
	keyNames.mu.RLock()
	size := len(keyNames.m)
	keyNames.mu.RUnlock()
	if size > maxMemoKeys {
		t.Errorf("the memo holds %d keys, bound %d", size, maxMemoKeys)
	}

	k := &auth.Key{ID: 42, Group: "team", RPM: 10, DailyRequests: 5, TPM: 100, GroupRPM: 20, GroupTPM: 200}
	var keys []string
	for _, r := range appendRules(nil, k) {
		keys = append(keys, r.Key)
	}
	want := []string{"k:42:rpm", "k:42:day", "k:42:tpm", "g:team:rpm", "g:team:tpm"}
	if len(keys) != len(want) {
		t.Fatalf("rules %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("rules %v, want %v", keys, want)
		}
	}
	tpm := tpmRules(&auth.Key{ID: 42, Group: "team", GroupTPM: 200})
	if tpm[0].Limit != 0 || tpm[1].Key != "g:team:tpm" || tpm[1].Limit != 200 {
		t.Errorf("tpm rules %+v", tpm)
	}
}
