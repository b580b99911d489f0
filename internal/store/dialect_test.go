package store

import "testing"

func TestRebind(t *testing.T) {
	cases := []struct {
		name, in string
		d        Dialect
		want     string
	}{
		{"postgres numbers in order", "SELECT a FROM t WHERE b = ? AND c IN (?, ?)", Postgres, "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"},
		{"postgres no placeholders", "SELECT 1", Postgres, "SELECT 1"},
		{"postgres string literal", "SELECT '?' , x FROM t WHERE y = ?", Postgres, "SELECT '?' , x FROM t WHERE y = $1"},
		{"postgres escaped quote", "SELECT 'it''s ?' WHERE a = ?", Postgres, "SELECT 'it''s ?' WHERE a = $1"},
		{"postgres quoted identifier", `SELECT "we?rd" FROM t WHERE a = ?`, Postgres, `SELECT "we?rd" FROM t WHERE a = $1`},
		{"postgres line comment", "SELECT a -- why?\nFROM t WHERE a = ?", Postgres, "SELECT a -- why?\nFROM t WHERE a = $1"},
		{"postgres block comment", "SELECT /* ? */ a WHERE b = ?", Postgres, "SELECT /* ? */ a WHERE b = $1"},
		{"postgres unterminated quote kept", "SELECT ? 'abc", Postgres, "SELECT $1 'abc"},
		{"postgres ten and more", "?,?,?,?,?,?,?,?,?,?,?", Postgres, "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
		{"sqlite unchanged", "SELECT a WHERE b = ?", SQLite, "SELECT a WHERE b = ?"},
		{"mysql unchanged", "SELECT a WHERE b = ?", MySQL, "SELECT a WHERE b = ?"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.d.Rebind(c.in); got != c.want {
				t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestUpsertSQL(t *testing.T) {
	cols, key, upd := []string{"name", "value"}, []string{"name"}, []string{"value"}
	cases := []struct {
		d              Dialect
		ignore, upsert string
	}{
		{SQLite,
			"INSERT INTO s (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
			"INSERT INTO s (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"},
		{Postgres,
			"INSERT INTO s (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
			"INSERT INTO s (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value"},
		{MySQL,
			"INSERT INTO s (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE name = name",
			"INSERT INTO s (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)"},
	}
	for _, c := range cases {
		t.Run(string(c.d), func(t *testing.T) {
			if got := c.d.InsertIgnore("s", cols, key); got != c.ignore {
				t.Errorf("InsertIgnore = %q, want %q", got, c.ignore)
			}
			if got := c.d.Upsert("s", cols, key, upd); got != c.upsert {
				t.Errorf("Upsert = %q, want %q", got, c.upsert)
			}
		})
	}
}
