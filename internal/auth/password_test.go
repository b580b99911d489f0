package auth

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h := HashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("PHC string %s", h)
	}
	if !VerifyPassword(h, "correct horse battery") {
		t.Error("right password refused")
	}
	if VerifyPassword(h, "correct horse batterY") {
		t.Error("wrong password accepted")
	}
	if h2 := HashPassword("correct horse battery"); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	if NeedsRehash(h) {
		t.Error("current hash needs rehash")
	}
	weak := hashWith("correct horse battery", PasswordParams{Memory: 8 * 1024, Time: 1, Threads: 1})
	if !VerifyPassword(weak, "correct horse battery") || !NeedsRehash(weak) {
		t.Error("weaker hash should verify and need a rehash")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", strings.Replace(h, "t=2", "t=x", 1)} {
		if VerifyPassword(bad, "correct horse battery") {
			t.Errorf("malformed %q verified", bad)
		}
		if !NeedsRehash(bad) {
			t.Errorf("malformed %q does not need a rehash", bad)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	if CheckPassword("elevenchars") == nil {
		t.Error("11 characters accepted")
	}
	if err := CheckPassword("twelve chars"); err != nil {
		t.Error(err)
	}
	if CheckPassword("密码密码密码密码密码密码") != nil {
		t.Error("12 runes refused")
	}
	if CheckPassword(strings.Repeat("x", 2000)) == nil {
		t.Error("2000 bytes accepted")
	}
}
