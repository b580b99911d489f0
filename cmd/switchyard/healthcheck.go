package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheckCommand exists because the container image has no shell or
// curl: orchestrators run the binary itself to probe a node.
func healthcheckCommand() command {
	return command{
		name:    "healthcheck",
		summary: "probe a running gateway (for container health checks)",
		about: `Sends GET to the given URL (a node's /readyz by default) and exits 0 when it
answers 2xx within the timeout, 1 otherwise. Meant for container health checks,
where the image holds no shell or curl.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			url := fs.String("url", "http://127.0.0.1:8080/readyz", "`URL` to probe")
			timeout := fs.Duration("timeout", 3*time.Second, "give up after this `duration`")
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				if len(pos) > 0 {
					fmt.Fprintf(stderr, "switchyard healthcheck: unexpected argument %q\n", pos[0])
					return 2
				}
				ctx, cancel := context.WithTimeout(ctx, *timeout)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
				if err != nil {
					fmt.Fprintf(stderr, "switchyard healthcheck: %v\n", err)
					return 2
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					fmt.Fprintf(stderr, "switchyard healthcheck: %v\n", err)
					return 1
				}
				defer resp.Body.Close()
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
				fmt.Fprintf(stdout, "%s: %s\n", *url, resp.Status)
				if resp.StatusCode/100 != 2 {
					return 1
				}
				return 0
			}
		},
	}
}
