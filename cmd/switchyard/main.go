// Command switchyard is the gateway's single binary. main only wires: each
// subcommand parses its own flags (one flag.FlagSet per command, standard
// library only), builds what it needs from internal packages and maps the
// outcome to an exit code: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand. flags defines its flag set; run executes it
// with the parsed flags and the positional arguments left over.
type command struct {
	name    string
	args    string   // positional synopsis, e.g. "[status]"
	subs    []string // its sub-words, e.g. "status"; flags may stand before or after them
	summary string   // one line for the command list
	about   string   // one paragraph for its help
	flags   func(fs *flag.FlagSet) func(ctx context.Context, pos []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{serveCommand(), demoCommand(), mockCommand(), migrateCommand(), credentialsCommand(), usersCommand(), adminCommand(), keysCommand(), redeemCommand(), usageCommand(), backupCommand(), restoreCommand(), healthcheckCommand(), versionCommand()}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	args = hoistConfig(args)
	if len(args) == 0 {
		fmt.Fprint(stderr, "switchyard: missing command\n\n")
		usage(stderr)
		return 2
	}
	switch name := args[0]; name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			for _, c := range commands() {
				if c.name == args[1] {
					commandUsage(stdout, c)
					return 0
				}
			}
			fmt.Fprintf(stderr, "switchyard: unknown command %q\n\n", args[1])
			usage(stderr)
			return 2
		}
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return runCommand(ctx, c, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "switchyard: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// hoistConfig moves a global -c FILE (or --config FILE, -c=FILE) written
// before the command name to after it, where the command's flag set reads
// it: `switchyard -c f.yaml keys list`.
func hoistConfig(args []string) []string {
	if len(args) == 0 {
		return args
	}
	name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
	if !strings.HasPrefix(args[0], "-") || (name != "c" && name != "config") {
		return args
	}
	n := 1 // words the flag takes
	if !hasValue {
		n = 2
	}
	if len(args) <= n {
		return args
	}
	out := append([]string{args[n]}, args[:n]...)
	return append(out, args[n+1:]...)
}

func runCommand(ctx context.Context, c command, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchyard "+c.name, flag.ContinueOnError)
	exec := c.flags(fs)
	// flag's own printing is silenced: the error line and usage are ours, so
	// that --help goes to stdout and a mistake to stderr, prefixed like every
	// other message.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, c)
			return 0
		}
		fmt.Fprintf(stderr, "switchyard %s: %v\n\n", c.name, err)
		commandUsage(stderr, c)
		return 2
	}
	return exec(ctx, pos, stdout, stderr)
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments (`keys revoke 5 -c f.yaml` as well as `keys -c f.yaml revoke 5`),
// because people add the config flag last; package flag alone stops at the
// first positional. The positional arguments keep their order; everything
// after a lone "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" &&
			(consumed < 2 || !takesValue(fs, args[consumed-2])) {
			return append(pos, rest...), nil // "--" ended the flags
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// takesValue reports whether tok is a flag of fs written without "=" that
// reads the next argument as its value, so that a "--" after it is a value.
func takesValue(fs *flag.FlagSet, tok string) bool {
	name, ok := strings.CutPrefix(tok, "-")
	if !ok || strings.Contains(name, "=") {
		return false
	}
	name = strings.TrimPrefix(name, "-")
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, isBool := f.Value.(interface{ IsBoolFlag() bool })
	return !isBool || !b.IsBoolFlag()
}

const intro = `Switchyard is a self-hosted AI API gateway: one OpenAI-compatible (and
Anthropic-compatible) endpoint in front of many upstream providers and
accounts, with keys, quotas, rate limits and billing.`

func usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  switchyard <command> [flags]\n\nCommands:\n", intro)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-11s %s\n", "help", "show this help, or `help <command>` for one command")
	fmt.Fprint(w, "\nRun 'switchyard <command> --help' for one command. Every command and its flags:\n")
	for _, c := range commands() {
		fmt.Fprintln(w)
		commandUsage(w, c)
	}
}

func commandUsage(w io.Writer, c command) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	synopsis := "switchyard " + c.name
	if hasFlags(fs) {
		synopsis += " [flags]"
	}
	if c.args != "" {
		synopsis += " " + c.args
	}
	fmt.Fprintf(w, "%s\n\n%s\n", synopsis, indent(c.about, "  "))
	if hasFlags(fs) {
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(w, fs)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// printFlags lists flags as the documentation writes them: -c, --listen.
// (flag accepts one or two dashes for any flag; PrintDefaults shows one.)
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		placeholder, text := flag.UnquoteUsage(f)
		line := "  " + dash + f.Name
		if placeholder != "" {
			line += " " + placeholder
		}
		fmt.Fprintln(w, line)
		fmt.Fprintln(w, indent(text, "      "))
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(w, "      (default %s)\n", f.DefValue)
		}
	})
}
