package store

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

const redisPingTimeout = 5 * time.Second

// OpenRedis connects to the Redis server named by rawURL
// (redis://[user:pass@]host:6379/0, or rediss:// for TLS) and checks that it
// answers within ctx and at most five seconds. Errors carry the URL with its
// password redacted.
func OpenRedis(ctx context.Context, rawURL string) (*redis.Client, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open redis %s: %w", Redact(rawURL), scrub(err, passwords(rawURL)))
	}
	// Fail fast when Redis is away: every request checks limits and holds
	// its charge there, and the gateway answers 503 rather than queue. The
	// library's defaults (3 retries backing off to 512 ms, each dial tried 5
	// times 100 ms apart, 5 s dials) made a request wait about 1.5 s for
	// its 503. A URL that sets these
	// (?max_retries=…, ?dial_timeout=…) keeps its own values.
	if !hasParam(rawURL, "max_retries") {
		opts.MaxRetries = 1
	}
	if !hasParam(rawURL, "max_retry_backoff") {
		opts.MaxRetryBackoff = 100 * time.Millisecond
	}
	if !hasParam(rawURL, "dial_timeout") {
		opts.DialTimeout = 2 * time.Second
	}
	// A refused dial is retried by the library too (5 times, 100 ms apart,
	// by default): once is enough to ride out a blip.
	opts.DialerRetries = 2
	opts.DialerRetryTimeout = 20 * time.Millisecond
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("open redis %s: %w", Redact(rawURL), scrub(err, []string{opts.Password}))
	}
	return c, nil
}

// hasParam reports whether a Redis URL's query sets name.
func hasParam(rawURL, name string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Query().Has(name)
}

// SetRedisLogger sends go-redis's own messages (failed dials, pool events)
// to log instead of the library's default stderr logger. The setting is
// process-wide in go-redis, so the application calls this once at start.
func SetRedisLogger(log *slog.Logger) {
	redis.SetLogger(redisLogger{log})
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

// WarnIfVolatile logs a warning when the Redis server does not keep every
// write across its own restart (appendonly off): the billing journal's
// charges not yet posted to the database, the wallets' holds and the rate
// limits' state would be lost with it. A server that refuses CONFIG
// (managed services often do) cannot be checked, which is logged at info.
// It reports whether the server was seen to persist.
func WarnIfVolatile(ctx context.Context, c *redis.Client, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	vals, err := c.ConfigGet(ctx, "appendonly").Result()
	if err != nil {
		log.Info("redis: could not read its appendonly setting; it must be on, or a Redis restart loses charges not yet posted",
			"error", err.Error())
		return false
	}
	if v := vals["appendonly"]; v != "yes" {
		log.Warn("redis: appendonly is off, so a Redis restart loses the billing journal's last charges and every hold; "+
			"set appendonly yes (and appendfsync everysec or always) in redis.conf",
			"appendonly", v)
		return false
	}
	return true
}
