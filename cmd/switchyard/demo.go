package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

func demoCommand() command {
	return command{
		name:    "demo",
		summary: "run a gateway in front of the built-in mock upstream, ready to try",
		about: `Starts the built-in mock upstream and a gateway in front of it, with four
channels (openai, azure, anthropic, gemini; two mock credentials each), a
throwaway data dir and a freshly generated API key, then prints the base
URL, the key, a curl line and OpenAI SDK snippets. No provider account and
no configuration file are needed; SWITCHYARD_* environment variables are
ignored so the demo never touches a real database. Replies are the mock's
deterministic text. Runs until SIGINT or SIGTERM, drains, removes the data
dir (unless --keep) and exits 0. Use 'switchyard serve' for real use.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			listen := fs.String("listen", "127.0.0.1:8080", "`ADDR` the gateway listens on, host:port")
			mockAddr := fs.String("mock-addr", "127.0.0.1:0", "`ADDR` the mock upstream listens on (port 0 picks a free one)")
			keep := fs.Bool("keep", false, "keep the temporary data dir (SQLite database, secret key) on exit and print its path")
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				if len(pos) > 0 {
					fmt.Fprintf(stderr, "switchyard demo: unexpected argument %q\n", pos[0])
					return 2
				}
				return runDemo(ctx, demoOptions{listen: *listen, mockAddr: *mockAddr, keep: *keep}, stdout, stderr)
			}
		},
	}
}

type demoOptions struct {
	listen, mockAddr string
	keep             bool
}

// demoChannel is one channel of the demo: its type and the models it serves.
type demoChannel struct {
	typ    string
	models []string
}

// demoChannels is what the demo serves; the mock answers any model name, so
// these are the names a newcomer would expect from each provider.
var demoChannels = []demoChannel{
	{"openai", []string{"gpt-4o-mini", "text-embedding-3-small", "gpt-image-1"}},
	{"azure", []string{"gpt-4o"}},
	{"anthropic", []string{"claude-sonnet-4-5"}},
	{"gemini", []string{"gemini-2.5-flash"}},
}

// demoConfig builds the demo gateway's configuration in code: nothing is read
// from a file or the environment.
func demoConfig(listen, mockURL, dataDir, key, adminPassword string) *config.Config {
	cfg := config.Default()
	// The console's administrator, with a random password printed once.
	cfg.Admin = config.Admin{Email: demoAdmin, Password: config.Secret(adminPassword)}
	cfg.Server.Listen = listen
	cfg.Server.DataDir = dataDir
	cfg.Server.PublicURL = reachableURL(listen)
	cfg.Server.ShutdownTimeout = 10 * time.Second
	cfg.Database.URL = config.Secret("sqlite://" + dataDir + "/switchyard.db")
	cfg.Images.Storage = "file://" + dataDir + "/images"
	for _, dc := range demoChannels {
		ch := config.Channel{
			Name: "demo-" + dc.typ, Type: dc.typ, BaseURL: mockURL, Models: dc.models,
			Groups: []string{config.DefaultGroup}, Weight: 1,
			Credentials: []config.Credential{
				{Key: config.Secret("mock-" + dc.typ + "-1"), Weight: 1},
				{Key: config.Secret("mock-" + dc.typ + "-2"), Weight: 1},
			},
		}
		if dc.typ == "azure" {
			ch.APIVersion = config.DefaultAzureAPIVersion
		}
		cfg.Channels = append(cfg.Channels, ch)
	}
	cfg.Keys = []config.Key{{Name: "demo", User: demoUser, Key: config.Secret(key)}}
	// Requests are charged as on a real gateway, at about the providers'
	// list prices, against demo credit.
	cfg.Billing.NewUserCredit = demoCredit
	cfg.Pricing = map[string]config.Price{
		"gpt-4o-mini":            {Input: 0.15, CachedInput: 0.075, Output: 0.60},
		"gpt-4o":                 {Input: 2.5, CachedInput: 1.25, Output: 10},
		"text-embedding-3-small": {Input: 0.02},
		"gpt-image-1":            {PerImage: map[string]float64{"default": 0.042}},
		"claude-sonnet-4-5":      {Input: 3, CachedInput: 0.3, Output: 15},
		"gemini-2.5-flash":       {Input: 0.3, CachedInput: 0.075, Output: 2.5},
	}
	return cfg
}

// demoCredit is the demo user's starting credit, in USD; demoUser owns the
// demo key, so that `switchyard users balance --email demo@example.com`
// (with --keep and --data-dir) shows the wallet.
const (
	demoCredit = 10.0
	demoUser   = "demo@example.com"
	demoAdmin  = "admin@example.com" // signs in to the console
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newDemoKey returns "sk-sy-" and 48 uniformly random base62 characters.
func newDemoKey() (string, error) {
	s, err := randomBase62(48)
	if err != nil {
		return "", fmt.Errorf("generate demo key: %w", err)
	}
	return "sk-sy-" + s, nil
}

// randomBase62 returns n uniformly random base62 characters (rejection
// sampling: bytes ≥ 248 would favour the first eight symbols).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}

func runDemo(ctx context.Context, opts demoOptions, stdout, stderr io.Writer) int {
	log := app.NewLogger(config.Log{Level: "info", Format: "text"}, stderr)
	ctx, stop := signalContext(ctx)
	defer stop()

	dir, err := os.MkdirTemp("", "switchyard-demo-")
	if err != nil {
		log.Error("cannot create the data dir", "error", err.Error())
		return 1
	}
	defer func() {
		if opts.keep {
			log.Info("kept the data dir", "dir", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Error("cannot remove the data dir", "dir", dir, "error", err.Error())
		}
	}()

	key, err := newDemoKey()
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	adminPassword, err := randomBase62(20)
	if err != nil {
		log.Error("cannot start", "error", "generate the console password: "+err.Error())
		return 1
	}

	var lc net.ListenConfig
	mln, err := lc.Listen(ctx, "tcp", opts.mockAddr)
	if err != nil {
		log.Error("cannot listen", "addr", opts.mockAddr, "error", err.Error())
		return 1
	}
	msrv := &http.Server{
		Handler:           mock.New(mock.Options{Logger: log.With("component", "mock")}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	mockServed := make(chan error, 1)
	go func() { mockServed <- msrv.Serve(mln) }()
	// The mock stops after the gateway has drained: in-flight demo streams
	// still need their upstream.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mockShutdownTimeout)
		defer cancel()
		if err := msrv.Shutdown(sctx); err != nil {
			_ = msrv.Close()
		}
		<-mockServed
	}()
	mockURL := "http://" + mln.Addr().String()

	cfg := demoConfig(opts.listen, mockURL, dir, key, adminPassword)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-ran:
		log.Error("cannot start", "error", errString(err))
		return 1
	}
	printDemo(stdout, reachableURL(a.Addr()), mockURL, key, adminPassword, dir, opts.keep)
	if err := <-ran; err != nil {
		log.Error("stopped with an error", "error", err.Error())
		return 1
	}
	log.Info("stopped")
	return 0
}

// reachableURL is the URL a local client uses for a listen address: an
// unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") becomes 127.0.0.1.
func reachableURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func errString(err error) string {
	if err == nil {
		return "stopped before listening"
	}
	return err.Error()
}

// printDemo writes what a newcomer needs to try the gateway. The key is
// printed on purpose: it is a throwaway key for a throwaway gateway.
func printDemo(w io.Writer, base, mockURL, key, adminPassword, dir string, keep bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nSwitchyard demo is running: a gateway in front of the built-in mock upstream (%s).\n\n", mockURL)
	fmt.Fprintf(&b, "  Base URL:  %s/v1\n", base)
	fmt.Fprintf(&b, "  API key:   %s\n", key)
	fmt.Fprintf(&b, "  Console:   %s/  (sign in as %s, password %s; shown only now)\n", base, demoAdmin, adminPassword)
	if keep {
		fmt.Fprintf(&b, "  Data dir:  %s (kept on exit)\n", dir)
	}
	b.WriteString("\nModels (every channel has two mock credentials):\n")
	for _, dc := range demoChannels {
		fmt.Fprintf(&b, "  %-10s %s\n", dc.typ, strings.Join(dc.models, ", "))
	}
	b.WriteString("Chat completions work with every model above; the replies are the mock's\n" +
		"deterministic \"Mock reply to: …\" text.\n")
	fmt.Fprintf(&b, "Requests are charged at about list prices against %.2f USD of demo credit (user %s).\n", demoCredit, demoUser)
	fmt.Fprintf(&b, "\nTry it with curl (streaming):\n\n"+
		"  curl -N %s/v1/chat/completions -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' "+
		"-d '{\"model\":\"claude-sonnet-4-5\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}'\n", base, key)
	fmt.Fprintf(&b, "\nAn image, answered with a signed link anyone can open until it expires:\n\n"+
		"  curl %s/v1/images/generations -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' "+
		"-d '{\"model\":\"gpt-image-1\",\"prompt\":\"a lighthouse\",\"response_format\":\"url\"}'\n", base, key)
	fmt.Fprintf(&b, "\nOpenAI Python SDK:\n\n"+
		"  from openai import OpenAI\n"+
		"  client = OpenAI(base_url=\"%s/v1\", api_key=\"%s\")\n"+
		"  print(client.chat.completions.create(model=\"gemini-2.5-flash\", messages=[{\"role\": \"user\", \"content\": \"Hello!\"}]).choices[0].message.content)\n", base, key)
	fmt.Fprintf(&b, "\nOpenAI JS SDK:\n\n"+
		"  import OpenAI from 'openai';\n"+
		"  const client = new OpenAI({ baseURL: '%s/v1', apiKey: '%s' });\n"+
		"  const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello!' }] });\n"+
		"  console.log(res.choices[0].message.content);\n", base, key)
	b.WriteString("\nPress Ctrl-C to stop. For real use: switchyard serve -c switchyard.yaml\n\n")
	_, _ = io.WriteString(w, b.String())
}
