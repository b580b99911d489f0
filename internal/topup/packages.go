package topup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

const packageSelect = `SELECT id, name, price_minor, currency, credit_micros, bonus_micros, per_user_limit, enabled, created_at, updated_at FROM topup_packages`

func scanPackage(sc interface{ Scan(...any) error }) (Package, error) {
	var p Package
	err := sc.Scan(&p.ID, &p.Name, &p.Price, &p.Currency, &p.Credit, &p.Bonus, &p.PerUserLimit, &p.Enabled, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// CreatePackage stores a new package and returns it.
func (s *Service) CreatePackage(ctx context.Context, p Package) (Package, error) {
	if err := p.normalize(); err != nil {
		return Package{}, err
	}
	now := s.now().UTC()
	d := s.db.Dialect()
	id, err := d.InsertID(ctx, s.db.Write(), d.Rebind(`INSERT INTO topup_packages
		(name, price_minor, currency, credit_micros, bonus_micros, per_user_limit, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), p.Name, p.Price, p.Currency, int64(p.Credit), int64(p.Bonus), p.PerUserLimit, p.Enabled, now, now)
	if err != nil {
		return Package{}, fmt.Errorf("create package %q: %w", p.Name, err)
	}
	return s.Package(ctx, id)
}

// UpdatePackage replaces the package's fields; orders already created
// keep the price and credit they were created with.
func (s *Service) UpdatePackage(ctx context.Context, p Package) (Package, error) {
	if err := p.normalize(); err != nil {
		return Package{}, err
	}
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(`UPDATE topup_packages SET name = ?, price_minor = ?, currency = ?,
		credit_micros = ?, bonus_micros = ?, per_user_limit = ?, enabled = ?, updated_at = ? WHERE id = ?`),
		p.Name, p.Price, p.Currency, int64(p.Credit), int64(p.Bonus), p.PerUserLimit, p.Enabled, s.now().UTC(), p.ID)
	if err != nil {
		return Package{}, fmt.Errorf("update package %d: %w", p.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		if _, err := s.Package(ctx, p.ID); err != nil {
			return Package{}, err
		}
	}
	return s.Package(ctx, p.ID)
}

// DeletePackage removes the package; its orders stay, without it.
func (s *Service) DeletePackage(ctx context.Context, id int64) error {
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("DELETE FROM topup_packages WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("delete package %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("package %d: %w", id, ErrNotFound)
	}
	return nil
}

// Package returns one package.
func (s *Service) Package(ctx context.Context, id int64) (Package, error) {
	p, err := scanPackage(s.db.Write().QueryRowContext(ctx, s.db.Dialect().Rebind(packageSelect+" WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Package{}, fmt.Errorf("package %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Package{}, fmt.Errorf("read package %d: %w", id, err)
	}
	return p, nil
}

// Packages lists the packages by id, only the enabled ones when
// enabledOnly.
func (s *Service) Packages(ctx context.Context, enabledOnly bool) ([]Package, error) {
	q := packageSelect
	var args []any
	if enabledOnly {
		q += " WHERE enabled = ?"
		args = append(args, true)
	}
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(q+" ORDER BY id"), args...)
	if err != nil {
		return nil, fmt.Errorf("list packages: %w", err)
	}
	defer rows.Close()
	out := []Package{}
	for rows.Next() {
		p, err := scanPackage(rows)
		if err != nil {
			return nil, fmt.Errorf("list packages: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
