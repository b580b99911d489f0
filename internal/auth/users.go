package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
)

// Users as the console reads and edits them. Lists are keyset pages,
// newest first by id. What the configuration file declares about a user
// (name, group, role) cannot be changed here: the next start would undo it.

// More errors of the Store.
var (
	// ErrUserHasLedger refuses to delete a user with money history: their
	// ledger rows must keep adding up to their balance. Disable them.
	ErrUserHasLedger = errors.New("the user has ledger rows; disable the user instead")
	ErrGroupExists   = errors.New("group already exists")
	// ErrGroupInUse refuses to delete a group that still has users.
	ErrGroupInUse = errors.New("the group still has users")
)

// InvalidError is a value refused by a check, naming the field (JSON
// name, or a path such as models[2]) so that a form can show it in place.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Reason }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ManagedByFileError refuses a change to what the configuration file
// declares; Field names the file entry, e.g. users[email=a@example.com].
type ManagedByFileError struct {
	Field string
}

func (e *ManagedByFileError) Error() string {
	return e.Field + " is declared in the configuration file; change it there"
}

// Page asks for one keyset page: rows with an id below Before (0 = from
// the newest), at most Limit (1 to 1000; 50 when out of range).
type Page struct {
	Before int64
	Limit  int
}

func (p Page) limit() int {
	if p.Limit < 1 || p.Limit > 1000 {
		return 50
	}
	return p.Limit
}

// pageWhere appends the keyset condition on column and returns the
// ORDER BY / LIMIT tail; one row more than the page is read to know
// whether another page follows.
func (p Page) pageWhere(column string, where []string, args []any) ([]string, []any, string) {
	if p.Before > 0 {
		where = append(where, column+" < ?")
		args = append(args, p.Before)
	}
	return where, args, " ORDER BY " + column + " DESC LIMIT " + strconv.Itoa(p.limit()+1)
}

// cut trims a page read with one row too many and returns the id of the
// next page's Before (0 on the last page).
func cut[T any](rows []T, p Page, id func(T) int64) ([]T, int64) {
	if len(rows) <= p.limit() {
		return rows, 0
	}
	rows = rows[:p.limit()]
	return rows, id(rows[len(rows)-1])
}

func whereSQL(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// likeContains is a LIKE pattern matching s anywhere, with '!' as the
// escape character (the same on all three databases, unlike '\').
func likeContains(s string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return "%" + r.Replace(s) + "%"
}

// UserFilter narrows QueryUsers; empty fields do not filter.
type UserFilter struct {
	Email  string // substring, any case
	Group  string
	Role   string
	Status string
}

const userSelect = `SELECT u.id, u.email, u.name, g.name, u.role, u.status, u.managed_by_file, u.balance_micros, u.created_at
	FROM users u JOIN user_groups g ON g.id = u.group_id`

func scanUser(sc interface{ Scan(...any) error }) (User, error) {
	var u User
	err := sc.Scan(&u.ID, &u.Email, &u.Name, &u.Group, &u.Role, &u.Status, &u.ManagedByFile, &u.BalanceMicros, &u.CreatedAt)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, err
}

// QueryUsers returns one page of users, newest first, and the Before of
// the next page (0 on the last).
func (s *Store) QueryUsers(ctx context.Context, f UserFilter, p Page) ([]User, int64, error) {
	var where []string
	var args []any
	if e := normEmail(f.Email); e != "" {
		where = append(where, "u.email LIKE ? ESCAPE '!'")
		args = append(args, likeContains(e))
	}
	if f.Group != "" {
		where = append(where, "g.name = ?")
		args = append(args, f.Group)
	}
	if f.Role != "" {
		where = append(where, "u.role = ?")
		args = append(args, f.Role)
	}
	if f.Status != "" {
		where = append(where, "u.status = ?")
		args = append(args, f.Status)
	}
	where, args, tail := p.pageWhere("u.id", where, args)
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(userSelect+whereSQL(where)+tail), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("query users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("query users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("query users: %w", err)
	}
	out, next := cut(out, p, func(u User) int64 { return u.ID })
	return out, next, nil
}

// GetUser returns the user with id (ErrUserNotFound).
func (s *Store) GetUser(ctx context.Context, id int64) (User, error) {
	return s.getUser(ctx, false, id)
}

// getUser reads from the writer when fresh, to see a change just made.
func (s *Store) getUser(ctx context.Context, fresh bool, id int64) (User, error) {
	q := s.db.Read()
	if fresh {
		q = s.db.Write()
	}
	u, err := scanUser(q.QueryRowContext(ctx, s.db.Dialect().Rebind(userSelect+" WHERE u.id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user id %d: %w", id, ErrUserNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user id %d: %w", id, err)
	}
	return u, nil
}

// CheckNewUser checks what CreateUser will check, naming the field.
func CheckNewUser(nu NewUser) error {
	email := normEmail(nu.Email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 191 {
		return invalid("email", "%q is not an email address (name@example.com)", nu.Email)
	}
	if len(nu.Name) > 191 {
		return invalid("name", "name is longer than 191 bytes")
	}
	if nu.Role != "" && !slices.Contains(config.Roles, nu.Role) {
		return invalid("role", "role %q is not one of %s", nu.Role, strings.Join(config.Roles, ", "))
	}
	return nil
}

// UserPatch is a change to a user; nil fields are left alone.
type UserPatch struct {
	Name, Group, Role, Status *string
}

// UpdateUser applies p to the user with id and returns the user before
// and after. A file-managed user's name, group and role are the file's:
// changing them fails with *ManagedByFileError (setting the same value is
// not a change). Their status is not the file's, so it may change.
func (s *Store) UpdateUser(ctx context.Context, id int64, p UserPatch) (before, after User, err error) {
	before, err = s.getUser(ctx, true, id)
	if err != nil {
		return User{}, User{}, err
	}
	after = before
	if p.Name != nil {
		after.Name = *p.Name
		if len(after.Name) > 191 {
			return before, before, invalid("name", "name is longer than 191 bytes")
		}
	}
	if p.Group != nil {
		after.Group = *p.Group
	}
	if p.Role != nil {
		after.Role = *p.Role
		if !slices.Contains(config.Roles, after.Role) {
			return before, before, invalid("role", "role %q is not one of %s", after.Role, strings.Join(config.Roles, ", "))
		}
	}
	if p.Status != nil {
		after.Status = *p.Status
		if after.Status != StatusActive && after.Status != StatusDisabled {
			return before, before, invalid("status", "status %q is not %s or %s", after.Status, StatusActive, StatusDisabled)
		}
	}
	if before.ManagedByFile && (after.Name != before.Name || after.Group != before.Group || after.Role != before.Role) {
		return before, before, &ManagedByFileError{Field: "users[email=" + before.Email + "]"}
	}
	if after == before {
		return before, after, nil
	}
	gid, err := s.groupID(ctx, s.db.Write(), after.Group)
	if errors.Is(err, ErrGroupNotFound) {
		return before, before, invalid("group", "group %q does not exist", after.Group)
	}
	if err != nil {
		return before, before, err
	}
	_, err = s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(
		"UPDATE users SET name = ?, group_id = ?, role = ?, status = ?, updated_at = ? WHERE id = ?"),
		after.Name, gid, after.Role, after.Status, s.now().UTC(), id)
	if err != nil {
		return before, before, fmt.Errorf("update user id %d: %w", id, err)
	}
	if err := s.bump(ctx); err != nil {
		return before, before, err
	}
	after, err = s.getUser(ctx, true, id)
	return before, after, err
}

// DeleteUser deletes the user with id and their keys, and returns the
// user as they were. A user with any ledger row (a grant, a charge, a
// redeemed code) is refused with ErrUserHasLedger: deleting the rows would
// rewrite money history and keeping them would orphan them, so such a
// user is disabled instead. File-managed users are refused too.
func (s *Store) DeleteUser(ctx context.Context, id int64) (User, error) {
	u, err := s.getUser(ctx, true, id)
	if err != nil {
		return User{}, err
	}
	if u.ManagedByFile {
		return u, &ManagedByFileError{Field: "users[email=" + u.Email + "]"}
	}
	// One statement decides, so a ledger row posted meanwhile either lands
	// first (nothing is deleted) or fails on the missing user.
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(
		"DELETE FROM users WHERE id = ? AND NOT EXISTS (SELECT 1 FROM ledger WHERE ledger.user_id = ?)"), id, id)
	if err != nil {
		return u, fmt.Errorf("delete user id %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return u, fmt.Errorf("delete user id %d: %w", id, err)
	} else if n == 0 {
		return u, fmt.Errorf("user %s: %w", u.Email, ErrUserHasLedger)
	}
	return u, s.bump(ctx)
}

// Group is a stored group of users.
type Group struct {
	ID                  int64   `json:"id"`
	Name                string  `json:"name"`
	Ratio               float64 `json:"ratio"` // price multiplier
	RPM                 int     `json:"rpm"`
	TPM                 int64   `json:"tpm"`
	DailyRequests       int     `json:"daily_requests"`
	ImageResponseFormat string  `json:"image_response_format"`
	Users               int64   `json:"users"` // how many users it has
	ManagedByFile       bool    `json:"managed_by_file"`
}

const groupSelect = `SELECT g.id, g.name, g.ratio_ppm, g.rpm, g.tpm, g.daily_requests, g.image_response_format, g.managed_by_file,
	(SELECT COUNT(*) FROM users u WHERE u.group_id = g.id) FROM user_groups g`

func scanGroup(sc interface{ Scan(...any) error }) (Group, error) {
	var g Group
	var ppm int64
	err := sc.Scan(&g.ID, &g.Name, &ppm, &g.RPM, &g.TPM, &g.DailyRequests, &g.ImageResponseFormat, &g.ManagedByFile, &g.Users)
	g.Ratio = float64(ppm) / 1e6
	return g, err
}

// QueryGroups returns one page of groups, newest first.
func (s *Store) QueryGroups(ctx context.Context, p Page) ([]Group, int64, error) {
	where, args, tail := p.pageWhere("g.id", nil, nil)
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(groupSelect+whereSQL(where)+tail), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("query groups: %w", err)
	}
	defer rows.Close()
	out := []Group{}
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("query groups: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("query groups: %w", err)
	}
	out, next := cut(out, p, func(g Group) int64 { return g.ID })
	return out, next, nil
}

// GetGroup returns the group with id (ErrGroupNotFound).
func (s *Store) GetGroup(ctx context.Context, id int64) (Group, error) {
	g, err := scanGroup(s.db.Write().QueryRowContext(ctx, s.db.Dialect().Rebind(groupSelect+" WHERE g.id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Group{}, fmt.Errorf("group id %d: %w", id, ErrGroupNotFound)
	}
	if err != nil {
		return Group{}, fmt.Errorf("read group id %d: %w", id, err)
	}
	return g, nil
}

// maxRatio bounds a group's price ratio (the column is ppm in a BIGINT;
// far below that, a ratio this large is surely a typo).
const maxRatio = 1000

func (g Group) check() error {
	switch {
	case strings.TrimSpace(g.Name) == "" || g.Name != strings.TrimSpace(g.Name) || len(g.Name) > 191:
		return invalid("name", "a group name is 1 to 191 bytes without surrounding spaces")
	case !(g.Ratio >= 0 && g.Ratio <= maxRatio): // also refuses NaN
		return invalid("ratio", "ratio must be between 0 and %d", maxRatio)
	case g.RPM < 0:
		return invalid("rpm", "rpm must be 0 (no limit) or more")
	case g.TPM < 0:
		return invalid("tpm", "tpm must be 0 (no limit) or more")
	case g.DailyRequests < 0:
		return invalid("daily_requests", "daily_requests must be 0 (no limit) or more")
	case !slices.Contains(config.ImageResponseFormats, g.ImageResponseFormat):
		return invalid("image_response_format", "image_response_format %q is not url or b64_json (or empty for the model's)", g.ImageResponseFormat)
	}
	return nil
}

// CreateGroup stores a new group (not file-managed) and returns it.
func (s *Store) CreateGroup(ctx context.Context, g Group) (Group, error) {
	if err := g.check(); err != nil {
		return Group{}, err
	}
	id, err := s.db.Dialect().InsertID(ctx, s.db.Write(),
		"INSERT INTO user_groups (name, ratio_ppm, rpm, tpm, daily_requests, image_response_format, managed_by_file, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		g.Name, ratioPPM(g.Ratio), g.RPM, g.TPM, g.DailyRequests, g.ImageResponseFormat, false, s.now().UTC())
	if store.IsUniqueViolation(err) {
		return Group{}, fmt.Errorf("group %s: %w", g.Name, ErrGroupExists)
	}
	if err != nil {
		return Group{}, fmt.Errorf("create group %s: %w", g.Name, err)
	}
	if err := s.bump(ctx); err != nil {
		return Group{}, err
	}
	return s.GetGroup(ctx, id)
}

// GroupPatch is a change to a group; nil fields are left alone.
type GroupPatch struct {
	Name                *string
	Ratio               *float64
	RPM                 *int
	TPM                 *int64
	DailyRequests       *int
	ImageResponseFormat *string
}

// UpdateGroup applies p to the group with id and returns it before and
// after. A file-managed group refuses any change (*ManagedByFileError).
func (s *Store) UpdateGroup(ctx context.Context, id int64, p GroupPatch) (before, after Group, err error) {
	before, err = s.GetGroup(ctx, id)
	if err != nil {
		return Group{}, Group{}, err
	}
	after = before
	setIf(&after.Name, p.Name)
	setIf(&after.Ratio, p.Ratio)
	setIf(&after.RPM, p.RPM)
	setIf(&after.TPM, p.TPM)
	setIf(&after.DailyRequests, p.DailyRequests)
	setIf(&after.ImageResponseFormat, p.ImageResponseFormat)
	if err := after.check(); err != nil {
		return before, before, err
	}
	if after == before {
		return before, after, nil
	}
	if before.ManagedByFile {
		return before, before, &ManagedByFileError{Field: "groups[name=" + before.Name + "]"}
	}
	if after.Name != before.Name && before.Name == config.DefaultGroup {
		return before, before, invalid("name", "the %s group cannot be renamed: new users land in it", config.DefaultGroup)
	}
	_, err = s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(
		"UPDATE user_groups SET name = ?, ratio_ppm = ?, rpm = ?, tpm = ?, daily_requests = ?, image_response_format = ? WHERE id = ?"),
		after.Name, ratioPPM(after.Ratio), after.RPM, after.TPM, after.DailyRequests, after.ImageResponseFormat, id)
	if store.IsUniqueViolation(err) {
		return before, before, fmt.Errorf("group %s: %w", after.Name, ErrGroupExists)
	}
	if err != nil {
		return before, before, fmt.Errorf("update group id %d: %w", id, err)
	}
	if err := s.bump(ctx); err != nil {
		return before, before, err
	}
	after, err = s.GetGroup(ctx, id)
	return before, after, err
}

// DeleteGroup deletes the group with id, which must have no users
// (ErrGroupInUse), not be the default group and not be file-managed.
func (s *Store) DeleteGroup(ctx context.Context, id int64) (Group, error) {
	g, err := s.GetGroup(ctx, id)
	if err != nil {
		return Group{}, err
	}
	if g.ManagedByFile {
		return g, &ManagedByFileError{Field: "groups[name=" + g.Name + "]"}
	}
	if g.Name == config.DefaultGroup {
		return g, fmt.Errorf("group %s: %w (it receives new users)", g.Name, ErrGroupInUse)
	}
	// The foreign key from users refuses the delete of a group that gained
	// a user meanwhile; the condition keeps the common case a clean error.
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(
		"DELETE FROM user_groups WHERE id = ? AND NOT EXISTS (SELECT 1 FROM users WHERE users.group_id = ?)"), id, id)
	if err != nil {
		return g, fmt.Errorf("delete group %s: %w", g.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return g, fmt.Errorf("delete group %s: %w", g.Name, err)
	} else if n == 0 {
		return g, fmt.Errorf("group %s: %w", g.Name, ErrGroupInUse)
	}
	return g, s.bump(ctx)
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// GroupNames lists every group's name (the file's and the console's), in
// name order: the groups a channel may be given.
func (s *Store) GroupNames(ctx context.Context) ([]string, error) {
	rows, err := s.db.Read().QueryContext(ctx, "SELECT name FROM user_groups ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list group names: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list group names: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list group names: %w", err)
	}
	return names, nil
}
