package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/switchyard/switchyard/internal/billing"
)

// moneyFlags are the flags of 'users credit'.
type moneyFlags struct {
	amount, note *string
}

func addCreditFlags(fs *flag.FlagSet) moneyFlags {
	return moneyFlags{
		amount: fs.String("amount", "", "`USD` to add, negative to take away (credit, required)"),
		note:   fs.String("note", "", "`TEXT` recorded on the ledger row (credit)"),
	}
}

// usersMoney runs 'users credit' and 'users balance'.
func usersMoney(ctx context.Context, cf *configFlags, sub, email string, mf moneyFlags, stdout, stderr io.Writer) int {
	if email == "" {
		fmt.Fprintf(stderr, "switchyard users %s: --email is required\n", sub)
		return 2
	}
	var amount billing.Micros
	if sub == "credit" {
		var err error
		if amount, err = billing.ParseUSD(*mf.amount); err != nil || amount == 0 {
			fmt.Fprintf(stderr, "switchyard users credit: --amount must be a non-zero number of USD, e.g. 5 or -1.25 (got %q)\n", *mf.amount)
			return 2
		}
	}
	return withTenancy(ctx, cf, stderr, func(ctx context.Context, t tenancy) int {
		st := t.st
		l := billing.NewLedger(st.DB, nil)
		uid, err := l.UserID(ctx, email)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		if sub == "credit" {
			// Every run is its own adjustment, so its request id is random.
			var b [12]byte
			_, _ = rand.Read(b[:])
			res, err := l.Post(ctx, billing.Entry{UserID: uid, RequestID: "adjust:" + hex.EncodeToString(b[:]),
				Kind: billing.KindAdjust, Amount: amount, Note: *mf.note})
			if errors.Is(err, billing.ErrInsufficient) {
				bal, _ := l.Balance(ctx, uid)
				fmt.Fprintf(stderr, "switchyard: cannot take %s from %s: the balance is %s and may not go below zero\n", -amount, email, bal)
				return 1
			}
			if err != nil {
				fmt.Fprintf(stderr, "switchyard: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "credited %s to %s; balance %s\n", amount, email, res.BalanceAfter)
			auditCLI(ctx, st.DB, stderr, []string{"users", "credit"}, "users.credit", fmt.Sprintf("user:%d", uid), nil,
				map[string]any{"amount_micros": int64(amount), "reason": *mf.note, "balance_after_micros": int64(res.BalanceAfter)})
			return 0
		}
		bal, err := l.Balance(ctx, uid)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		rows, err := l.History(ctx, uid, 10)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s balance %s\n", email, bal)
		if len(rows) == 0 {
			return 0
		}
		fmt.Fprintln(stdout)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tKIND\tAMOUNT\tBALANCE\tREQUEST\tNOTE")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.CreatedAt.Format("2006-01-02 15:04:05"), r.Kind, r.Amount, r.BalanceAfter,
				r.RequestID, dash(r.Note))
		}
		if err := tw.Flush(); err != nil {
			fmt.Fprintf(stderr, "switchyard: write ledger: %v\n", err)
			return 1
		}
		return 0
	})
}
