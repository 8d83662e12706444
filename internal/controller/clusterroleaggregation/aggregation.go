package clusterroleaggregation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// fieldManager is the manager of the rules it writes, upstream's name.
const fieldManager = "clusterrole-aggregation-controller"

// Controller keeps aggregated ClusterRoles' rules up to date.
type Controller struct {
	client kubernetes.Interface
	roles  rbaclisters.ClusterRoleLister
	loop   *reconcile.Loop
	logger *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor for the clusterrole-aggregation
// controller.
func New(cc controller.Context) (controller.Controller, error) {
	inf := cc.Informers.Rbac().V1().ClusterRoles()
	c := &Controller{client: cc.Client, roles: inf.Lister(), logger: cc.Logger}
	c.loop = reconcile.NewLoop("clusterrole-aggregation", cc.Clock, cc.Logger, c.sync)
	if _, err := inf.Informer().AddEventHandler(reconcile.Handler(func(any) { c.enqueueAggregated() })); err != nil {
		return nil, fmt.Errorf("clusterrole-aggregation: add handler: %w", err)
	}
	c.loop.WaitFor(inf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// enqueueAggregated queues every aggregated role: ClusterRoles are few,
// and which of them a change affects is not worth working out.
func (c *Controller) enqueueAggregated() {
	all, err := c.roles.List(labels.Everything())
	if err != nil {
		return
	}
	for _, r := range all {
		if r.AggregationRule != nil {
			c.loop.Enqueue(r)
		}
	}
}

// Aggregate returns the rules role should hold: those of the other roles
// in all that its selectors match, selectors in order, roles by name, each
// distinct rule once.
func Aggregate(role *rbacv1.ClusterRole, all []*rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	byName := slices.SortedFunc(slices.Values(all), func(a, b *rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
	rules := []rbacv1.PolicyRule{}
	for i := range role.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&role.AggregationRule.ClusterRoleSelectors[i])
		if err != nil {
			return nil, fmt.Errorf("aggregate %s: %w", role.Name, err)
		}
		for _, r := range byName {
			if r.Name == role.Name || !sel.Matches(labels.Set(r.Labels)) {
				continue
			}
			for _, rule := range r.Rules {
				if !slices.ContainsFunc(rules, func(have rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(have, rule) }) {
					rules = append(rules, rule)
				}
			}
		}
	}
	return rules, nil
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	role, err := c.roles.Get(key)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if role.AggregationRule == nil {
		return reconcile.Result{}, nil
	}
	all, err := c.roles.List(labels.Everything())
	if err != nil {
		return reconcile.Result{}, err
	}
	rules, err := Aggregate(role, all)
	if err != nil {
		// A bad selector stays bad until the role changes.
		c.logger.Error("cannot aggregate cluster role", "clusterRole", key, "err", err)
		return reconcile.Result{}, nil
	}
	if equality.Semantic.DeepEqual(rules, role.Rules) {
		return reconcile.Result{}, nil
	}
	apply := rbacv1ac.ClusterRole(role.Name)
	for _, r := range rules {
		apply.WithRules(&rbacv1ac.PolicyRuleApplyConfiguration{Verbs: r.Verbs, APIGroups: r.APIGroups,
			Resources: r.Resources, ResourceNames: r.ResourceNames, NonResourceURLs: r.NonResourceURLs})
	}
	if _, err := c.client.RbacV1().ClusterRoles().Apply(ctx, apply, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		return reconcile.Result{}, fmt.Errorf("aggregate cluster role %s: %w", key, err)
	}
	return reconcile.Result{}, nil
}
