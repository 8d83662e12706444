package etcd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Dial returns a client of the etcd cluster at endpoints (URLs such as
// https://10.0.0.1:2379), as given to --etcd-servers. tlsConfig, if not nil,
// carries the CA and client certificate for https endpoints.
//
// Dial does not wait for a connection: the first request does, and requests
// go to whichever endpoints answer, so one member down is not an error.
func Dial(endpoints []string, tlsConfig *tls.Config) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("dial etcd: no endpoints")
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		TLS:         tlsConfig,
		DialTimeout: 20 * time.Second,
		// Keepalives find a dead member while a watch is idle, so that the
		// client moves the watch to a live one.
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("dial etcd %v: %w", endpoints, err)
	}
	return c, nil
}
