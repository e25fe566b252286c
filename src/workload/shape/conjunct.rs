//! Where each conjunct of a WHERE or ON goes: a join key (column = column of two tables), a
//! semi-join key (`x IN (SELECT y ...)`), a predicate of the one table it touches, or a
//! deferred predicate of an unqualified column for `resolve` to attribute.
//!
//! Why apart from the walk: this is the decision the advice rests on, and it is easier to
//! check on its own than inside the scope bookkeeping.

use sqlparser::ast::{BinaryOperator, Expr, Query, SelectItem, SetExpr};

use super::classify::classify;
use super::walk::{Col, Walker};
use super::UnattributedRole;

impl Walker {
    pub(super) fn conjuncts(&mut self, e: &Expr) {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.conjuncts(left);
                self.conjuncts(right);
            }
            Expr::Nested(inner) => self.conjuncts(inner),
            Expr::BinaryOp {
                op: BinaryOperator::Or,
                ..
            } => {
                // `(A AND B) OR (A AND C)` is `A AND (B OR C)`: the planner factors out what
                // every arm shares (prepqual.c), TPC-H Q19's join key among it.
                let arms = chain(e, &BinaryOperator::Or);
                let texts: Vec<Vec<String>> = arms
                    .iter()
                    .map(|a| {
                        chain(a, &BinaryOperator::And)
                            .iter()
                            .map(ToString::to_string)
                            .collect()
                    })
                    .collect();
                for t in chain(arms[0], &BinaryOperator::And) {
                    let text = t.to_string();
                    if texts[1..].iter().all(|arm| arm.contains(&text)) {
                        self.conjunct(t);
                    }
                }
                self.conjunct(e);
            }
            _ => self.conjunct(e),
        }
    }

    /// The column a semi-join subquery returns is a join key of its table.
    fn semi_join_key(&mut self, q: &Query, first_new_access: usize) {
        let SetExpr::Select(sel) = q.body.as_ref() else {
            return;
        };
        let [SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }] =
            &sel.projection[..]
        else {
            return;
        };
        let (qualifier, column) = match e {
            Expr::Identifier(id) => (None, id.value.clone()),
            Expr::CompoundIdentifier(p) if p.len() >= 2 => (
                Some(p[p.len() - 2].value.clone()),
                p[p.len() - 1].value.clone(),
            ),
            _ => return,
        };
        let own: Vec<usize> = (first_new_access..self.accesses.len())
            .filter(|&i| {
                qualifier.as_ref().is_none_or(|qn| {
                    self.accesses[i].alias.as_ref() == Some(qn)
                        || self.accesses[i].table.rsplit('.').next() == Some(qn.as_str())
                })
            })
            .collect();
        if let [i] = own[..] {
            self.accesses[i].join_keys.push(column);
        }
    }

    fn conjunct(&mut self, mut e: &Expr) {
        // pg_get_viewdef and ORMs wrap conditions in parentheses: ((c.id = o.customer_id)).
        while let Expr::Nested(inner) = e {
            e = inner;
        }
        let before = self.accesses.len();
        let cols = self.columns_in(e);
        // `x IN (SELECT y FROM t ...)` is a semi-join on x = y: y is a join key of t.
        if let Expr::InSubquery {
            subquery,
            negated: false,
            ..
        } = e
        {
            self.semi_join_key(subquery, before);
        }
        // A join key: column = column of two different tables.
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = e
        {
            if self.join_key(left, right) {
                return;
            }
        }
        let mut tables: Vec<usize> = cols
            .iter()
            .filter_map(|c| match c {
                Col::At(i, _) => Some(*i),
                _ => None,
            })
            .collect();
        tables.sort_unstable();
        tables.dedup();
        let ambiguous: Vec<&Col> = cols
            .iter()
            .filter(|c| matches!(c, Col::Ambiguous(..)))
            .collect();
        let has_opaque = cols.contains(&Col::Opaque);
        for c in &cols {
            self.mark_read(c.clone());
        }
        if has_opaque {
            return;
        }
        let pred = classify(e);
        match (tables.as_slice(), ambiguous.as_slice()) {
            ([i], []) => self.accesses[*i].predicates.push(pred),
            // One unqualified column, or several that are all the same column.
            ([], [Col::Ambiguous(candidates, column), rest @ ..])
                if rest
                    .iter()
                    .all(|c| matches!(c, Col::Ambiguous(_, n) if n == column)) =>
            {
                self.defer(
                    candidates.clone(),
                    column.clone(),
                    UnattributedRole::Predicate(pred),
                );
            }
            _ => {} // touches several tables without being a join key: no single-table use
        }
    }

    /// `left = right` as a join key (column = column of two different tables, or of a
    /// correlated subquery and its outer query): recorded on both sides, and true; false when
    /// it is no join key and is a predicate instead.
    fn join_key(&mut self, left: &Expr, right: &Expr) -> bool {
        // Inside a subquery an unqualified name may be the outer query's column
        // (`EXISTS (SELECT 1 FROM lineitem WHERE l_orderkey = o_orderkey)`): with one
        // table in the inner scope both sides bind to it here; `resolve` decides with the
        // catalog which scope each belongs to.
        if let (Some(Col::At(a, ca)), Some(Col::At(b, cb))) =
            (self.column(left), self.column(right))
        {
            let unqualified = |x: &Expr| matches!(x, Expr::Identifier(_));
            let has_outer = self.scopes.len() > 1
                && self.scopes[..self.scopes.len() - 1]
                    .iter()
                    .any(|sc| !sc.tables().is_empty());
            if a == b && ca != cb && has_outer && (unqualified(left) || unqualified(right)) {
                for (x, c) in [(left, ca), (right, cb)] {
                    if unqualified(x) {
                        self.defer(vec![a], c, UnattributedRole::JoinKey);
                    } else {
                        self.key(a, c);
                    }
                }
                return true;
            }
        }
        match (self.column(left), self.column(right)) {
            (Some(Col::At(a, ca)), Some(Col::At(b, cb))) if a != b => {
                self.key(a, ca);
                self.key(b, cb);
                return true;
            }
            // Unqualified columns (comma joins, ORM SQL): `resolve` attributes each side.
            (
                Some(l @ (Col::At(..) | Col::Ambiguous(..))),
                Some(r @ (Col::At(..) | Col::Ambiguous(..))),
            ) if matches!(l, Col::Ambiguous(..)) || matches!(r, Col::Ambiguous(..)) => {
                let same_name =
                    matches!((&l, &r), (Col::Ambiguous(_, x), Col::Ambiguous(_, y)) if x == y);
                if !same_name {
                    for side in [l, r] {
                        match side {
                            Col::At(i, c) => self.key(i, c),
                            Col::Ambiguous(candidates, column) => {
                                self.defer(candidates, column, UnattributedRole::JoinKey);
                            }
                            Col::Opaque => {}
                        }
                    }
                    return true;
                }
            }
            _ => {}
        }
        false
    }

    /// `c` is a join key of access `i` (and read from it).
    fn key(&mut self, i: usize, c: String) {
        self.accesses[i].join_keys.push(c.clone());
        self.accesses[i].selected.push(c);
    }
}

/// The operands of a chain of one operator, through parentheses: the AND terms of an OR arm
/// (`a AND (b AND c)` gives a, b, c), or the arms of an OR.
fn chain<'e>(e: &'e Expr, op: &BinaryOperator) -> Vec<&'e Expr> {
    match e {
        Expr::Nested(inner) => chain(inner, op),
        Expr::BinaryOp { left, op: o, right } if o == op => {
            let mut v = chain(left, op);
            v.extend(chain(right, op));
            v
        }
        _ => vec![e],
    }
}
