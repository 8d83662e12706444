package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// curlOptions are the curl flags the suite uses: -s -S -q -g -i -I -k -L
// -v -f, -o FILE, -w FORMAT, -X METHOD, -H HEADER, -d DATA, -m/--max-time,
// --connect-timeout and --interface, short flags clustered or not.
type curlOptions struct {
	url            string
	silent         bool
	showError      bool
	include        bool
	head           bool
	insecure       bool
	follow         bool
	verbose        bool
	fail           bool
	output         string
	writeOut       string
	method         string
	headers        []string
	data           *string
	maxTime        time.Duration
	connectTimeout time.Duration
	iface          string
}

// curl exit codes, as curl documents them.
const (
	curlUsage          = 2
	curlBadURL         = 3
	curlNoResolve      = 6
	curlNoConnect      = 7
	curlHTTPError      = 22
	curlWriteError     = 23
	curlTimeout        = 28
	curlTLSError       = 35
	curlInterfaceError = 45
	curlEmptyReply     = 52
	curlRecvError      = 56
)

func parseSeconds(v string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("expected a proper numerical parameter, got %q", v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func parseCurl(args []string) (curlOptions, error) {
	var o curlOptions
	// withValue sets an option that takes an argument.
	withValue := func(flag, v string) error {
		var err error
		switch flag {
		case "o", "output":
			o.output = v
		case "w", "write-out":
			o.writeOut = v
		case "X", "request":
			o.method = v
		case "H", "header":
			o.headers = append(o.headers, v)
		case "d", "data", "data-raw", "data-binary":
			o.data = &v
		case "m", "max-time":
			o.maxTime, err = parseSeconds(v)
		case "connect-timeout":
			o.connectTimeout, err = parseSeconds(v)
		case "interface":
			o.iface = v
		}
		return err
	}
	takesValue := map[string]bool{"o": true, "w": true, "X": true, "H": true, "d": true, "m": true,
		"output": true, "write-out": true, "request": true, "header": true, "data": true, "data-raw": true,
		"data-binary": true, "max-time": true, "connect-timeout": true, "interface": true}
	setBool := func(flag string) bool {
		switch flag {
		case "s", "silent":
			o.silent = true
		case "S", "show-error":
			o.showError = true
		case "i", "include":
			o.include = true
		case "I", "head":
			o.head = true
		case "k", "insecure":
			o.insecure = true
		case "L", "location":
			o.follow = true
		case "v", "verbose":
			o.verbose = true
		case "f", "fail":
			o.fail = true
		case "q", "disable", "g", "globoff", "http1.1", "no-buffer", "N":
			// no config file is ever read and URLs are never globbed
		default:
			return false
		}
		return true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "--") && len(a) > 2:
			flag, v, hasValue := strings.Cut(a[2:], "=")
			if takesValue[flag] {
				if !hasValue {
					if i+1 >= len(args) {
						return o, fmt.Errorf("option --%s: requires parameter", flag)
					}
					i++
					v = args[i]
				}
				if err := withValue(flag, v); err != nil {
					return o, fmt.Errorf("option --%s: %v", flag, err)
				}
			} else if !setBool(flag) {
				return o, fmt.Errorf("option --%s: is unknown", flag)
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				flag := a[j : j+1]
				if takesValue[flag] {
					v := a[j+1:]
					if v == "" {
						if i+1 >= len(args) {
							return o, fmt.Errorf("option -%s: requires parameter", flag)
						}
						i++
						v = args[i]
					}
					if err := withValue(flag, v); err != nil {
						return o, fmt.Errorf("option -%s: %v", flag, err)
					}
					break
				}
				if !setBool(flag) {
					return o, fmt.Errorf("option -%s: is unknown", flag)
				}
			}
		default:
			o.url = a
		}
	}
	if o.url == "" {
		return o, errors.New("no URL specified")
	}
	return o, nil
}

// curlError is a failure with curl's exit code and message.
type curlError struct {
	code int
	msg  string
}

func (e *curlError) Error() string { return e.msg }

// runCurl fetches one URL like curl: the body to stdout (or -o), -i adds
// the status line and headers, -w prints its format even when the
// request failed (http_code 000), and errors map to curl's exit codes.
func runCurl(e env, args []string) int {
	o, err := parseCurl(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "curl: %v\n", err)
		return curlUsage
	}
	status, cerr := curlDo(e, o)
	if o.writeOut != "" {
		fmt.Fprint(e.stdout, expandWriteOut(o.writeOut, status, o.url))
	}
	if cerr != nil {
		if !o.silent || o.showError {
			fmt.Fprintf(e.stderr, "curl: (%d) %s\n", cerr.code, cerr.msg)
		}
		return cerr.code
	}
	return 0
}

func expandWriteOut(format string, status int, u string) string {
	r := strings.NewReplacer(
		"%{http_code}", fmt.Sprintf("%03d", status),
		"%{response_code}", fmt.Sprintf("%03d", status),
		"%{url_effective}", u,
		`\n`, "\n", `\r`, "\r", `\t`, "\t",
	)
	return r.Replace(format)
}

func curlDo(e env, o curlOptions) (int, *curlError) {
	raw := o.url
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return 0, &curlError{curlBadURL, fmt.Sprintf("URL using bad/illegal format or missing URL: %s", o.url)}
	}
	ctx := context.Background()
	if o.maxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.maxTime)
		defer cancel()
	}
	dialer := &net.Dialer{Timeout: o.connectTimeout}
	if o.connectTimeout == 0 {
		dialer.Timeout = 300 * time.Second // curl's default
	}
	if o.iface != "" {
		local, err := interfaceAddr(o.iface)
		if err != nil {
			return 0, &curlError{curlInterfaceError, fmt.Sprintf("Failed binding local connection end: %v", err)}
		}
		dialer.LocalAddr = &net.TCPAddr{IP: local}
	}
	tr := &http.Transport{
		DialContext:       dialer.DialContext,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: o.insecure},
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	client := &http.Client{Transport: tr}
	if !o.follow {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	method := o.method
	var body io.Reader
	if o.data != nil {
		body = strings.NewReader(*o.data)
		if method == "" {
			method = http.MethodPost
		}
	}
	if o.head && method == "" {
		method = http.MethodHead
	}
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return 0, &curlError{curlBadURL, err.Error()}
	}
	req.Header.Set("User-Agent", "curl/8")
	req.Header.Set("Accept", "*/*")
	if o.data != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range o.headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if o.verbose {
		fmt.Fprintf(e.stderr, "> %s %s HTTP/1.1\n> Host: %s\n", method, req.URL.RequestURI(), u.Host)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, classifyCurlError(err, u)
	}
	defer resp.Body.Close()
	out := e.stdout
	if o.output != "" && o.output != "-" {
		f, err := os.Create(o.output)
		if err != nil {
			return resp.StatusCode, &curlError{curlWriteError, fmt.Sprintf("Failed writing body: %v", err)}
		}
		defer f.Close()
		out = f
	}
	if o.verbose {
		fmt.Fprintf(e.stderr, "< %s %s\n", resp.Proto, resp.Status)
	}
	if o.fail && resp.StatusCode >= 400 {
		return resp.StatusCode, &curlError{curlHTTPError, fmt.Sprintf("The requested URL returned error: %d", resp.StatusCode)}
	}
	if o.include || o.head {
		fmt.Fprintf(out, "%s %s\r\n", resp.Proto, resp.Status)
		keys := make([]string, 0, len(resp.Header))
		for k := range resp.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range resp.Header[k] {
				fmt.Fprintf(out, "%s: %s\r\n", k, v)
			}
		}
		fmt.Fprint(out, "\r\n")
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return resp.StatusCode, classifyCurlError(err, u)
	}
	return resp.StatusCode, nil
}

// interfaceAddr resolves --interface: an address, or an interface name.
func interfaceAddr(name string) (net.IP, error) {
	if ip := net.ParseIP(name); ip != nil {
		return ip, nil
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	addrs, err := ifc.Addrs()
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("interface %s has no address", name)
	}
	ip, _, _ := net.ParseCIDR(addrs[0].String())
	return ip, nil
}

func classifyCurlError(err error, u *url.URL) *curlError {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var tlsErr *tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err):
		return &curlError{curlTimeout, fmt.Sprintf("Failed to connect to %s port %s: Timeout was reached", host, port)}
	case errors.As(err, &dnsErr):
		return &curlError{curlNoResolve, fmt.Sprintf("Could not resolve host: %s", host)}
	case errors.As(err, &tlsErr) || errors.As(err, &certErr):
		return &curlError{curlTLSError, fmt.Sprintf("TLS connect error: %v", err)}
	case errors.As(err, &opErr) && opErr.Op == "dial":
		reason := "Could not connect to server"
		if errors.Is(err, syscall.ECONNREFUSED) {
			reason = "Connection refused"
		} else if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
			reason = "No route to host"
		}
		return &curlError{curlNoConnect, fmt.Sprintf("Failed to connect to %s port %s: %s", host, port, reason)}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return &curlError{curlEmptyReply, "Empty reply from server"}
	default:
		return &curlError{curlRecvError, fmt.Sprintf("Recv failure: %v", err)}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
