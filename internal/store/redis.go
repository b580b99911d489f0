package store

import (
	"context"
	"fmt"
	"log/slog"
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
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("open redis %s: %w", Redact(rawURL), scrub(err, []string{opts.Password}))
	}
	return c, nil
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
