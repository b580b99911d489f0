package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/auth"
)

func adminCommand() command {
	return command{
		name:    "admin",
		args:    "create --email E | reset-password --email E",
		subs:    []string{"create", "reset-password"},
		summary: "create the first administrator, or reset an administrator's password",
		about: `'admin create --email E [--name N]' makes E an administrator with a
password: a new user in the default group, or an existing user who has no
password yet. On a terminal it asks for the password twice; otherwise it
reads one line from standard input (printf '%s\n' "$PW" | switchyard admin
create --email E). At least 12 characters. There is no default password.

'admin reset-password --email E [--disable-2fa]' sets a new password (read
the same way) for a locked-out administrator and ends their console
sessions; --disable-2fa also turns their two-factor authentication off
and deletes their recovery codes.

Both open the database exactly as 'serve' does (and Redis, where sessions
live when it is configured).`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagDatabaseURL, flagDataDir, flagLogLevel)
			email := fs.String("email", "", "the administrator's `EMAIL` (required)")
			name := fs.String("name", "", "display `NAME` (create)")
			disable2FA := fs.Bool("disable-2fa", false, "also turn two-factor authentication off (reset-password)")
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				if len(pos) != 1 || (pos[0] != "create" && pos[0] != "reset-password") {
					fmt.Fprintf(stderr, "switchyard admin: unexpected arguments %q (want \"create --email E\" or \"reset-password --email E\")\n", pos)
					return 2
				}
				if *email == "" {
					fmt.Fprintf(stderr, "switchyard admin %s: --email is required\n", pos[0])
					return 2
				}
				return withAccounts(ctx, cf, stderr, func(ctx context.Context, acc *auth.Accounts) int {
					pw, err := readPassword(os.Stdin, stderr)
					if err != nil {
						fmt.Fprintf(stderr, "switchyard: %v\n", err)
						return 1
					}
					if pos[0] == "create" {
						a, err := acc.CreateAdmin(ctx, *email, *name, pw)
						if err != nil {
							fmt.Fprintf(stderr, "switchyard: %v\n", err)
							return 1
						}
						fmt.Fprintf(stdout, "administrator %s (id %d) can sign in\n", a.Email, a.ID)
						return 0
					}
					return setPassword(ctx, acc, *email, pw, true, *disable2FA, stdout, stderr)
				})
			}
		},
	}
}

// setPassword is admin reset-password and users set-password.
func setPassword(ctx context.Context, acc *auth.Accounts, email, pw string, adminOnly, disable2FA bool, stdout, stderr io.Writer) int {
	if adminOnly {
		// Checked first, so that reset-password never changes a user's
		// password by mistake.
		a, err := acc.AccountByEmail(ctx, email)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		if a.Role != "admin" {
			fmt.Fprintf(stderr, "switchyard: %s is not an administrator; use 'switchyard users set-password'\n", a.Email)
			return 1
		}
	}
	a, err := acc.SetPassword(ctx, email, pw)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	if disable2FA {
		if err := acc.ResetTOTP(ctx, a.ID); err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "two-factor authentication of %s is off\n", a.Email)
	}
	fmt.Fprintf(stdout, "password of %s set; their console sessions ended\n", a.Email)
	return 0
}

// withAccounts opens storage like the users command and runs fn with the
// node's Accounts over it.
func withAccounts(ctx context.Context, cf *configFlags, stderr io.Writer, fn func(context.Context, *auth.Accounts) int) int {
	return withTenancy(ctx, cf, stderr, func(ctx context.Context, t tenancy) int {
		log := app.NewLogger(t.cfg.Log, stderr)
		return fn(ctx, app.NewAccounts(t.cfg, t.st, log, nil))
	})
}

// readPassword asks for a password twice on a terminal (without echo where
// the platform allows), or reads the first line of in when it is not a
// terminal.
func readPassword(in *os.File, prompt io.Writer) (string, error) {
	if fi, err := in.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprint(prompt, "New password (at least 12 characters): ")
		pw, err := readSecretLine(in)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		again, err := readSecretLine(in)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", errors.New("the two passwords differ")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input (write it as one line)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
