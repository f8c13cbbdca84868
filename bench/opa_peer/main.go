// Command opa_peer is an Envoy ext_authz gRPC server that decides with OPA's Rego engine: the
// benchmark's real peer for Behalf's verifier (bench/_opa_peer.py builds and drives it).
//
// It does per Check what opa-envoy-plugin does: the CheckRequest becomes the policy input
// (protojson, then a JSON value), and one prepared query, data.behalf.authz.decision, is
// evaluated against an in-memory store loaded once at start from the -data file. The answer
// is OK or PERMISSION_DENIED with an HTTP status, as the verifier's ext_authz answers.
//
//	opa_peer -addr 127.0.0.1:0 -data data.json
//
// Prints "serving HOST:PORT" once the port is bound; serves grpc.health.v1 and reflection.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/encoding/protojson"
)

//go:embed policy.rego
var policy string

const query = "data.behalf.authz.decision"

// server answers Check with the prepared query; safe for concurrent use.
type server struct {
	authv3.UnimplementedAuthorizationServer
	query rego.PreparedEvalQuery
}

// decision is the policy's answer, data.behalf.authz.decision.
type decision struct {
	Allow        bool
	HTTPStatus   int
	ReasonCode   string
	PermissionID string
}

var toJSON = protojson.MarshalOptions{UseProtoNames: true}

func (s *server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	d, err := s.decide(ctx, req)
	if err != nil {
		// Never an error Envoy could be configured to treat as allow: a deny with a 500.
		log.Printf("evaluation failed: %v", err)
		return denied(500, "INTERNAL"), nil
	}
	if !d.Allow {
		return denied(d.HTTPStatus, d.ReasonCode), nil
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{header("x-behalf-permission-id", d.PermissionID)},
		}},
	}, nil
}

// decide builds the input as opa-envoy-plugin does and evaluates the prepared query.
func (s *server) decide(ctx context.Context, req *authv3.CheckRequest) (decision, error) {
	raw, err := toJSON.Marshal(req)
	if err != nil {
		return decision{}, err
	}
	var input map[string]any
	if err := util.UnmarshalJSON(raw, &input); err != nil {
		return decision{}, err
	}
	input["authorization"] = ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if values := md.Get("authorization"); len(values) > 0 {
			input["authorization"] = values[0]
		}
	}
	value, err := ast.InterfaceToValue(input)
	if err != nil {
		return decision{}, err
	}
	results, err := s.query.Eval(ctx, rego.EvalParsedInput(value))
	if err != nil {
		return decision{}, err
	}
	if len(results) != 1 || len(results[0].Expressions) != 1 {
		return decision{}, fmt.Errorf("%s: undefined", query)
	}
	return decisionFrom(results[0].Expressions[0].Value)
}

func decisionFrom(value any) (decision, error) {
	object, ok := value.(map[string]any)
	if !ok {
		return decision{}, fmt.Errorf("%s: not an object: %v", query, value)
	}
	var d decision
	d.Allow, _ = object["allow"].(bool)
	d.ReasonCode, _ = object["reason_code"].(string)
	d.PermissionID, _ = object["permission_id"].(string)
	status, _ := object["http_status"].(json.Number)
	code, err := strconv.Atoi(string(status))
	if err != nil {
		return decision{}, fmt.Errorf("%s: http_status %v", query, object["http_status"])
	}
	d.HTTPStatus = code
	return d, nil
}

func denied(status int, reasonCode string) *authv3.CheckResponse {
	body, _ := json.Marshal(map[string]string{"reason_code": reasonCode})
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied), Message: reasonCode},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Headers: []*corev3.HeaderValueOption{header("content-type", "application/json")},
			Body:    string(body),
		}},
	}
}

func header(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, Value: value}}
}

// prepare compiles the embedded policy once against the data document in path.
func prepare(ctx context.Context, path string) (rego.PreparedEvalQuery, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return rego.PreparedEvalQuery{}, err
	}
	var data map[string]any
	if err := util.UnmarshalJSON(raw, &data); err != nil {
		return rego.PreparedEvalQuery{}, fmt.Errorf("%s: %w", path, err)
	}
	return rego.New(
		rego.Query(query),
		rego.Module("policy.rego", policy),
		// As `opa run --optimize-store-for-read-speed`: data kept as AST values, not converted per read.
		rego.Store(inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))),
	).PrepareForEval(ctx)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	dataPath := flag.String("data", "", "JSON data document: keys and agents (required)")
	flag.Parse()
	if *dataPath == "" {
		log.Fatal("-data is required")
	}
	ctx := context.Background()
	prepared, err := prepare(ctx, *dataPath)
	if err != nil {
		log.Fatalf("prepare: %v", err)
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	grpcServer := grpc.NewServer()
	authv3.RegisterAuthorizationServer(grpcServer, &server{query: prepared})
	healthServer := health.NewServer()
	healthpb.RegisterHealthServer(grpcServer, healthServer)
	reflection.Register(grpcServer)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		grpcServer.GracefulStop()
	}()
	fmt.Printf("serving %s\n", listener.Addr())
	if err := grpcServer.Serve(listener); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
