package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	arv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"skiff/internal/server/servertest"
)

// TestDRAResources covers resource.k8s.io/v1 as the DRA CRUD conformance
// specs use it: discovery, create with defaults, claim status through
// every patch type, immutable specs and the slices' field selectors.
func TestDRAResources(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.ClientFor(t, protobuf)
	ctx := context.Background()
	for _, r := range []string{"deviceclasses", "devicetaintrules", "resourceclaims", "resourceclaimtemplates", "resourceslices"} {
		if !hasResource(t, ts, "resource.k8s.io/v1", r) {
			t.Errorf("discovery of resource.k8s.io/v1 lacks %s", r)
		}
	}

	class, err := c.ResourceV1().DeviceClasses().Create(ctx, &resourcev1.DeviceClass{
		ObjectMeta: metav1.ObjectMeta{Name: "dra.example.com"},
		Spec:       resourcev1.DeviceClassSpec{Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: "false"}}}},
	}, metav1.CreateOptions{FieldValidation: "Strict"})
	if err != nil || class.Generation != 1 {
		t.Fatalf("create device class: %+v, %v", class, err)
	}
	if _, err := c.ResourceV1().DeviceClasses().Create(ctx, &resourcev1.DeviceClass{
		ObjectMeta: metav1.ObjectMeta{Name: "bad"},
		Spec:       resourcev1.DeviceClassSpec{Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: "1"}}}},
	}, metav1.CreateOptions{}); err == nil {
		t.Error("a selector that is not a bool was accepted")
	}

	claims := c.ResourceV1().ResourceClaims("default")
	claim, err := claims.Create(ctx, &resourcev1.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "test"},
		Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{{
			Name: "req-0", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "dra.example.com"},
		}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create claim: %v", err)
	}
	if e := claim.Spec.Devices.Requests[0].Exactly; e.AllocationMode != resourcev1.DeviceAllocationModeExactCount || e.Count != 1 {
		t.Errorf("request defaults: %+v", e)
	}
	for _, p := range []struct {
		pt   types.PatchType
		data string
	}{
		{types.ApplyPatchType, `{"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim","status":{"allocation":{}}}`},
		{types.StrategicMergePatchType, `{"status": {"allocation": {}}}`},
		{types.MergePatchType, `{"status": {"allocation": {}}}`},
		{types.JSONPatchType, `[{"op": "add", "path": "/status/allocation", "value": {}}]`},
	} {
		if _, err := claims.UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("reset status: %v", err)
		}
		got, err := claims.Patch(ctx, "test", p.pt, []byte(p.data), metav1.PatchOptions{FieldManager: "e2e", Force: ptr.To(p.pt == types.ApplyPatchType)}, "status")
		if err != nil || got.Status.Allocation == nil {
			t.Fatalf("%s status patch: %+v, %v", p.pt, got, err)
		}
		claim = got
		claim.Status = resourcev1.ResourceClaimStatus{}
	}
	claim.Spec.Devices.Requests[0].Exactly.DeviceClassName = "other"
	if _, err := claims.Update(ctx, claim, metav1.UpdateOptions{}); err == nil {
		t.Error("a claim's spec changed")
	}

	for _, node := range []string{"node-1", "node-2"} {
		if _, err := c.ResourceV1().ResourceSlices().Create(ctx, &resourcev1.ResourceSlice{
			ObjectMeta: metav1.ObjectMeta{Name: node},
			Spec: resourcev1.ResourceSliceSpec{Driver: "dra.example.com", NodeName: ptr.To(node),
				Pool: resourcev1.ResourcePool{Name: node, ResourceSliceCount: 1}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create slice: %v", err)
		}
	}
	slices, err := c.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-2"})
	if err != nil || len(slices.Items) != 1 || slices.Items[0].Name != "node-2" {
		t.Errorf("slices of node-2: %+v, %v", slices, err)
	}

	rule, err := c.ResourceV1().DeviceTaintRules().Create(ctx, &resourcev1.DeviceTaintRule{
		ObjectMeta: metav1.ObjectMeta{Name: "rule"},
		Spec:       resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "testing", Effect: resourcev1.DeviceTaintEffectNone}},
	}, metav1.CreateOptions{})
	if err != nil || rule.Spec.Taint.TimeAdded == nil {
		t.Fatalf("create taint rule: %+v, %v", rule, err)
	}
	rule.Status.Conditions = []metav1.Condition{{Type: "Testing", Status: metav1.ConditionTrue, Reason: "E2E", LastTransitionTime: metav1.Now()}}
	if rule, err = c.ResourceV1().DeviceTaintRules().UpdateStatus(ctx, rule, metav1.UpdateOptions{}); err != nil || len(rule.Status.Conditions) != 1 {
		t.Fatalf("taint rule status: %+v, %v", rule, err)
	}
}

// TestStatusPatchMetadata: a CronJob's /status takes the annotations a
// status patch carries, as upstream's status strategy does.
func TestStatusPatchMetadata(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.ClientFor(t, protobuf)
	ctx := context.Background()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "cj"},
		Spec: batchv1.CronJobSpec{Schedule: "* */1 * * ?", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}}}},
	}
	if _, err := c.BatchV1().CronJobs("default").Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.BatchV1().CronJobs("default").Patch(ctx, "cj", types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"patchedstatus":"true"}},"status":{"lastScheduleTime":"2026-01-01T00:00:00Z"}}`), metav1.PatchOptions{}, "status")
	if err != nil || got.Annotations["patchedstatus"] != "true" || got.Status.LastScheduleTime == nil {
		t.Fatalf("status patch: annotations %v, status %+v, %v", got.Annotations, got.Status, err)
	}
}

// TestMutatingAdmissionPolicy: a bound policy's apply configuration
// mutates the Deployments it matches, merged with the kind's schema (the
// containers list merges by name), as the conformance specs check.
func TestMutatingAdmissionPolicy(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.ClientFor(t, protobuf)
	ctx := context.Background()
	if !hasResource(t, ts, "admissionregistration.k8s.io/v1", "mutatingadmissionpolicies") || !hasResource(t, ts, "admissionregistration.k8s.io/v1", "mutatingadmissionpolicybindings") {
		t.Fatal("discovery lacks the mutating admission policies")
	}
	pol, err := c.AdmissionregistrationV1().MutatingAdmissionPolicies().Create(ctx, &arv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "replicas.example.com"},
		Spec: arv1.MutatingAdmissionPolicySpec{
			ReinvocationPolicy: arv1.NeverReinvocationPolicy,
			MatchConstraints: &arv1.MatchResources{ResourceRules: []arv1.NamedRuleWithOperations{{RuleWithOperations: arv1.RuleWithOperations{
				Operations: []arv1.OperationType{arv1.Create},
				Rule:       arv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
			}}}},
			Mutations: []arv1.Mutation{{PatchType: arv1.PatchTypeApplyConfiguration, ApplyConfiguration: &arv1.ApplyConfiguration{Expression: `
				Object{
					metadata: Object.metadata{annotations: {"mutated-by": "admission-policy"}},
					spec: Object.spec{replicas: 1337, template: Object.spec.template{spec: Object.spec.template.spec{
						containers: [Object.spec.template.spec.containers{name: "c", imagePullPolicy: "Always"}]}}}
				}`}}},
		},
	}, metav1.CreateOptions{})
	if err != nil || pol.Spec.FailurePolicy == nil || *pol.Spec.FailurePolicy != arv1.Fail {
		t.Fatalf("create policy: %+v, %v", pol, err)
	}
	if _, err := c.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Create(ctx, &arv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "replicas-binding"},
		Spec:       arv1.MutatingAdmissionPolicyBindingSpec{PolicyName: pol.Name},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create binding: %v", err)
	}
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
	}
	// The policy reaches admission through the watch cache: wait for it.
	var got *appsv1.Deployment
	servertest.Wait(t, "the policy mutates deployments", func(ctx context.Context) (bool, error) {
		out, err := c.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err
		}
		got = out
		return out.Annotations["mutated-by"] == "admission-policy", nil
	})
	cs := got.Spec.Template.Spec.Containers
	if *got.Spec.Replicas != 1337 || len(cs) != 1 || cs[0].Image != "busybox" || cs[0].ImagePullPolicy != corev1.PullAlways {
		t.Errorf("mutated deployment: replicas %d, containers %+v", *got.Spec.Replicas, cs)
	}
}

// TestCertificatesResources: ClusterTrustBundles by signer, and a
// PodCertificateRequest issued through an apply patch of its status, as
// the conformance specs do.
func TestCertificatesResources(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.ClientFor(t, protobuf)
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	notBefore := time.Now().Add(-time.Minute).Truncate(time.Second)
	cert := func(ca bool) string {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e"}, NotBefore: notBefore, NotAfter: notBefore.Add(time.Hour), IsCA: ca, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	for _, b := range []certificatesv1.ClusterTrustBundle{
		{ObjectMeta: metav1.ObjectMeta{Name: "example.com:one:a"}, Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: "example.com/one", TrustBundle: cert(true)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Spec: certificatesv1.ClusterTrustBundleSpec{TrustBundle: cert(true)}},
	} {
		if _, err := c.CertificatesV1().ClusterTrustBundles().Create(ctx, &b, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create bundle %s: %v", b.Name, err)
		}
	}
	list, err := c.CertificatesV1().ClusterTrustBundles().List(ctx, metav1.ListOptions{FieldSelector: "spec.signerName=example.com/one"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "example.com:one:a" {
		t.Errorf("bundles of example.com/one: %+v, %v", list, err)
	}
	if _, err := c.CertificatesV1().ClusterTrustBundles().Create(ctx, &certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: "leaf"}, Spec: certificatesv1.ClusterTrustBundleSpec{TrustBundle: cert(false)}}, metav1.CreateOptions{}); err == nil {
		t.Error("a bundle without a CA was accepted")
	}

	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	pcrs := c.CertificatesV1().PodCertificateRequests("default")
	pcr, err := pcrs.Create(ctx, &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-example-pcr-"},
		Spec: certificatesv1.PodCertificateRequestSpec{SignerName: "example.com/e2e", PodName: "test-pod", PodUID: "1",
			ServiceAccountName: "default", ServiceAccountUID: "2", NodeName: "test-node", NodeUID: "3",
			MaxExpirationSeconds: ptr.To(int32(86400)), StubPKCS10Request: csr},
	}, metav1.CreateOptions{FieldValidation: "Strict"})
	if err != nil {
		t.Fatalf("create request: %v", err)
	}
	status, err := json.Marshal(map[string]any{"apiVersion": "certificates.k8s.io/v1", "kind": "PodCertificateRequest", "status": map[string]any{
		"certificateChain": cert(false), "notBefore": metav1.NewTime(notBefore), "notAfter": metav1.NewTime(notBefore.Add(time.Hour)),
		"beginRefreshAt": metav1.NewTime(notBefore.Add(15 * time.Minute)),
		"conditions":     []map[string]any{{"type": "Issued", "status": "True", "reason": "E2E", "message": "issued", "lastTransitionTime": metav1.Now()}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := pcrs.Patch(ctx, pcr.Name, types.ApplyPatchType, status, metav1.PatchOptions{FieldManager: "e2e", Force: ptr.To(true)}, "status")
	if err != nil || got.Status.CertificateChain == "" {
		t.Fatalf("issue through /status: %+v, %v", got, err)
	}
	got.Status.CertificateChain = ""
	if _, err := pcrs.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err == nil {
		t.Error("an issued request's status changed")
	}
}
