package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/pool"
	"github.com/switchyard/switchyard/internal/provider/vertex"
)

// vertexGrant gives the pool vertex access tokens: the credential's
// long-lived secret is the service-account key, which does not rotate.
// A refusal by the token endpoint becomes a *pool.RefreshError, so the
// pool disables the credential as it does a revoked refresh token.
func vertexGrant(ctx context.Context, client *http.Client, ch *config.Channel, key string, now time.Time) (pool.Token, error) {
	tok, err := vertex.Exchange(ctx, client, []byte(key), ch.TokenURL, now)
	if re, ok := errors.AsType[*vertex.RefusedError](err); ok {
		return pool.Token{}, &pool.RefreshError{Status: re.Status, Code: re.Code, Description: re.Description}
	}
	if err != nil {
		return pool.Token{}, err
	}
	return pool.Token{AccessToken: tok.AccessToken, RefreshToken: key, ExpiresAt: tok.ExpiresAt}, nil
}
