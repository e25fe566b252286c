//! The walk over sqlparser's tree: a stack of FROM scopes, so aliases, correlated
//! subqueries, CTEs and derived tables resolve to the table they name, and every column read
//! lands on its table's access (or waits for `resolve` when several tables could have it).
//!
//! Why one walker with explicit scopes rather than sqlparser's visitor alone: the visitor sees
//! every identifier but not which FROM list it belongs to; the walker recurses where SQL's
//! name resolution does and uses the visitor only for expressions.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, GroupByExpr, JoinConstraint, JoinOperator, LimitClause,
    ObjectName, OrderByExpr, OrderByKind, OrderBySort, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor, TableObject, TableWithJoins,
    UpdateTableFromKind, Visit, Visitor,
};

use super::classify::bare;
use super::{
    ColumnRef, OrderKey, Shape, StatementKind, TableAccess, Unattributed, UnattributedRole,
};

pub(super) fn shape_of(stmt: &Statement) -> Shape {
    let mut w = Walker::default();
    let kind = match stmt {
        Statement::Query(q) => {
            w.query(q, true);
            match q.body.as_ref() {
                SetExpr::Insert(_) => StatementKind::Insert,
                SetExpr::Update(_) => StatementKind::Update,
                SetExpr::Delete(_) => StatementKind::Delete,
                SetExpr::Merge(_) => StatementKind::Merge,
                _ => StatementKind::Select,
            }
        }
        Statement::Insert(_) => StatementKind::Insert,
        Statement::Update(_) => StatementKind::Update,
        Statement::Delete(_) => StatementKind::Delete,
        Statement::Merge(_) => StatementKind::Merge,
        _ => StatementKind::Utility,
    };
    if !matches!(stmt, Statement::Query(_)) && kind != StatementKind::Utility {
        w.statement(stmt);
    }
    let mut shape = w.finish(kind);
    shape.set_columns = set_columns(stmt);
    shape
}

/// The columns the statement's own UPDATE sets (not a data-modifying CTE's): the first part of
/// each SET target, which is the column (`SET d.x = ...` sets a field of composite column d).
fn set_columns(stmt: &Statement) -> Vec<String> {
    let update = match stmt {
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Update(s) => s,
            _ => return Vec::new(),
        },
        other => other,
    };
    let Statement::Update(u) = update else {
        return Vec::new();
    };
    u.assignments
        .iter()
        .flat_map(|a| match &a.target {
            AssignmentTarget::ColumnName(n) => std::slice::from_ref(n),
            AssignmentTarget::Tuple(names) => names.as_slice(),
        })
        .filter_map(|n| n.0.first()?.as_ident().map(|i| i.value.clone()))
        .collect()
}

/// What a name in a FROM list stands for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Binding {
    /// A base table: an index into `accesses`.
    Table(usize),
    /// A CTE, derived table or function: its columns are not a base table's.
    Opaque,
}

#[derive(Debug, Default)]
pub(super) struct Scope {
    pub(super) names: Vec<(String, Binding)>,
}

impl Scope {
    pub(super) fn tables(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .names
            .iter()
            .filter_map(|(_, b)| match b {
                Binding::Table(i) => Some(*i),
                Binding::Opaque => None,
            })
            .collect();
        v.dedup();
        v
    }
    fn is_single_table(&self) -> bool {
        self.names.len() == 1 && matches!(self.names[0].1, Binding::Table(_))
    }
}

/// A column reference resolved against the scope stack.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Col {
    At(usize, String),
    /// Unqualified, several tables in the innermost scope.
    Ambiguous(Vec<usize>, String),
    /// A CTE's or subquery's column, or an unknown qualifier.
    Opaque,
}

#[derive(Default)]
pub(super) struct Walker {
    pub(super) accesses: Vec<TableAccess>,
    pub(super) scopes: Vec<Scope>,
    /// WITH names in scope; a CTE that passes one table's rows through binds to that table.
    ctes: Vec<HashMap<String, Binding>>,
    limit: Option<String>,
    offset: Option<String>,
    locking: bool,
    group_by: Vec<ColumnRef>,
    unattributed: Vec<Unattributed>,
    /// Top-level GROUP BY as access indexes, named at the end.
    group_by_cols: Vec<Col>,
}

fn ident_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| {
            p.as_ident()
                .map(|i| i.value.clone())
                .unwrap_or_else(|| p.to_string())
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

fn join_constraint(op: &JoinOperator) -> Option<&JoinConstraint> {
    use JoinOperator::*;
    match op {
        Join(c) | Inner(c) | Left(c) | LeftOuter(c) | Right(c) | RightOuter(c) | FullOuter(c)
        | CrossJoin(c) | Semi(c) | LeftSemi(c) | RightSemi(c) | Anti(c) | LeftAnti(c)
        | RightAnti(c) | StraightJoin(c) => Some(c),
        _ => None,
    }
}

impl Walker {
    fn finish(mut self, kind: StatementKind) -> Shape {
        for c in std::mem::take(&mut self.group_by_cols) {
            match c {
                Col::At(i, column) => self.group_by.push(ColumnRef {
                    table: Some(self.accesses[i].table.clone()),
                    column,
                }),
                Col::Ambiguous(_, column) => self.group_by.push(ColumnRef {
                    table: None,
                    column,
                }),
                Col::Opaque => {}
            }
        }
        for a in &mut self.accesses {
            dedup(&mut a.join_keys);
            dedup(&mut a.selected);
        }
        Shape {
            kind,
            accesses: self.accesses,
            limit: self.limit,
            offset: self.offset,
            locking: self.locking,
            group_by: self.group_by,
            unknown_tables: Vec::new(),
            unattributed: self.unattributed,
            set_columns: Vec::new(),
        }
    }

    fn cte(&self, name: &ObjectName) -> Option<Binding> {
        if name.0.len() != 1 {
            return None;
        }
        let n = last_part(name);
        self.ctes.iter().rev().find_map(|s| s.get(&n).copied())
    }

    fn statement(&mut self, stmt: &Statement) {
        match stmt {
            Statement::Query(q) => {
                self.query(q, false);
            }
            Statement::Insert(ins) => {
                if let TableObject::TableName(name) = &ins.table {
                    let i = self.push_access(
                        name,
                        ins.table_alias.as_ref().map(|a| a.alias.value.clone()),
                    );
                    self.accesses[i].target = true;
                }
                if let Some(src) = &ins.source {
                    self.query(src, false);
                }
            }
            Statement::Update(u) => {
                let mut scope = Scope::default();
                self.add_from(&u.table, &mut scope);
                if let Some(Binding::Table(i)) = scope.names.first().map(|n| n.1) {
                    self.accesses[i].target = true;
                }
                if let Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) =
                    &u.from
                {
                    for t in f {
                        self.add_from(t, &mut scope);
                    }
                }
                self.scopes.push(scope);
                for a in &u.assignments {
                    self.read_columns(&a.value);
                }
                if let Some(sel) = &u.selection {
                    self.conjuncts(sel);
                }
                self.returning(u.returning.as_deref());
                self.scopes.pop();
            }
            Statement::Delete(d) => {
                let mut scope = Scope::default();
                let (FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f)) = &d.from;
                for t in f {
                    self.add_from(t, &mut scope);
                }
                for (_, b) in &scope.names {
                    if let Binding::Table(i) = b {
                        self.accesses[*i].target = true;
                    }
                }
                for t in d.using.iter().flatten() {
                    self.add_from(t, &mut scope);
                }
                self.scopes.push(scope);
                if let Some(sel) = &d.selection {
                    self.conjuncts(sel);
                }
                self.returning(d.returning.as_deref());
                self.scopes.pop();
            }
            Statement::Merge(m) => {
                let mut scope = Scope::default();
                self.factor(&m.table, &mut scope);
                if let Some(Binding::Table(i)) = scope.names.first().map(|n| n.1) {
                    self.accesses[i].target = true;
                }
                self.factor(&m.source, &mut scope);
                self.scopes.push(scope);
                self.conjuncts(&m.on);
                self.scopes.pop();
            }
            _ => {}
        }
    }

    fn returning(&mut self, items: Option<&[SelectItem]>) {
        for item in items.unwrap_or_default() {
            self.select_item(item);
        }
    }

    fn push_access(&mut self, name: &ObjectName, alias: Option<String>) -> usize {
        self.accesses.push(TableAccess {
            table: ident_name(name),
            alias,
            ..Default::default()
        });
        self.accesses.len() - 1
    }

    /// Walks a query; returns the table whose rows it passes through unchanged (one table, plain
    /// columns, no grouping), so that a CTE or derived table over it can be seen through.
    pub(super) fn query(&mut self, q: &Query, top: bool) -> Option<usize> {
        self.locking |= !q.locks.is_empty();
        let mut names = HashMap::new();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                // A CTE sees the CTEs before it (and itself, when recursive).
                let name = cte.alias.name.value.clone();
                names.insert(name.clone(), Binding::Opaque);
                self.ctes.push(names.clone());
                let through = self.query(&cte.query, false);
                self.ctes.pop();
                if let (Some(i), true) = (through, cte.alias.columns.is_empty()) {
                    names.insert(name, Binding::Table(i));
                }
            }
        }
        self.ctes.push(names);
        let body_scope = self.set_expr(&q.body, top);
        let mut through = None;
        // ORDER BY and LIMIT hang off the query; they see the body's scope (when one SELECT).
        let limit = match &q.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => (
                limit.as_ref().map(ToString::to_string),
                offset.as_ref().map(|o| o.value.to_string()),
            ),
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(limit.to_string()), Some(offset.to_string()))
            }
            None => (None, None),
        };
        let limit = (
            limit.0.or_else(|| {
                q.fetch
                    .as_ref()
                    .map(|f| f.quantity.as_ref().map_or("1".into(), ToString::to_string))
            }),
            limit.1,
        );
        if let Some((scope, simple, plain)) = body_scope {
            if let (true, true, [(_, Binding::Table(i))]) = (simple, plain, &scope.names[..]) {
                through = Some(*i);
            }
            self.scopes.push(scope);
            if let Some(ob) = &q.order_by {
                if let OrderByKind::Expressions(exprs) = &ob.kind {
                    let aliases = match q.body.as_ref() {
                        SetExpr::Select(s) => output_aliases(s),
                        _ => HashSet::new(),
                    };
                    self.order_by(exprs, &aliases);
                }
            }
            if limit.0.is_some() && simple {
                if let [(_, Binding::Table(i))] =
                    self.scopes.last().map_or(&[][..], |s| &s.names[..])
                {
                    self.accesses[*i].limit_applies = true;
                }
            }
            self.scopes.pop();
        }
        let limited = limit.0.is_some();
        if top {
            self.limit = limit.0;
            self.offset = limit.1;
        }
        self.ctes.pop();
        through.filter(|_| !limited)
    }

    /// Walks a query body; for a single SELECT returns its scope and whether LIMIT would apply
    /// to its one table directly (no grouping, no DISTINCT, no aggregation visible).
    fn set_expr(&mut self, body: &SetExpr, top: bool) -> Option<(Scope, bool, bool)> {
        match body {
            SetExpr::Select(s) => Some(self.select(s, top)),
            SetExpr::Query(q) => {
                self.query(q, false);
                None
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, false);
                self.set_expr(right, false);
                None
            }
            SetExpr::Values(v) => {
                for row in &v.rows {
                    for e in &row.content {
                        self.read_columns(e);
                    }
                }
                None
            }
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
                self.statement(s);
                None
            }
            _ => None,
        }
    }

    fn select(&mut self, s: &Select, top: bool) -> (Scope, bool, bool) {
        let mut scope = Scope::default();
        for t in &s.from {
            self.add_from(t, &mut scope);
        }
        self.scopes.push(scope);
        for t in &s.from {
            for j in &t.joins {
                match join_constraint(&j.join_operator) {
                    Some(JoinConstraint::On(on)) => self.conjuncts(on),
                    Some(JoinConstraint::Using(cols)) => self.using(j, cols),
                    _ => {}
                }
            }
        }
        for item in &s.projection {
            self.select_item(item);
        }
        if let Some(sel) = &s.selection {
            self.conjuncts(sel);
        }
        let mut grouped = false;
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            grouped = !exprs.is_empty();
            let aliases = output_aliases(s);
            for e in exprs {
                if matches!(e, Expr::Identifier(id) if aliases.contains(&id.value)) {
                    continue;
                }
                self.read_columns(e);
                if top {
                    let c = self.column(e);
                    if let Some(c) = c {
                        self.group_by_cols.push(c);
                    }
                }
            }
        }
        if let Some(h) = &s.having {
            self.read_columns(h);
        }
        let scope = self.scopes.pop().unwrap_or_default();
        let simple = !grouped && s.distinct.is_none() && scope.is_single_table();
        let plain = s.projection.iter().all(|p| match p {
            SelectItem::UnnamedExpr(e) => bare(e).is_some(),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => true,
            _ => false,
        });
        (scope, simple, plain)
    }

    /// `JOIN b USING (k)`: k is a join key of b and of the table(s) before it.
    fn using(&mut self, j: &sqlparser::ast::Join, cols: &[ObjectName]) {
        let right = match &j.relation {
            TableFactor::Table { name, alias, .. } => Some(
                alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| last_part(name)),
            ),
            _ => None,
        };
        let scope = self
            .scopes
            .last()
            .map(|s| s.names.clone())
            .unwrap_or_default();
        for col in cols {
            let c = last_part(col);
            for (n, b) in &scope {
                if let Binding::Table(i) = b {
                    let is_right = right.as_deref() == Some(n.as_str());
                    let before = scope
                        .iter()
                        .position(|(m, _)| Some(m.as_str()) == right.as_deref())
                        .is_none_or(|rp| scope.iter().position(|(m, _)| m == n) < Some(rp));
                    if is_right || before {
                        self.accesses[*i].join_keys.push(c.clone());
                    }
                }
            }
        }
    }

    fn add_from(&mut self, t: &TableWithJoins, scope: &mut Scope) {
        self.factor(&t.relation, scope);
        for j in &t.joins {
            self.factor(&j.relation, scope);
        }
    }

    fn factor(&mut self, f: &TableFactor, scope: &mut Scope) {
        match f {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                let alias_name = alias.as_ref().map(|a| a.name.value.clone());
                let key = alias_name.clone().unwrap_or_else(|| last_part(name));
                if let Some(b) = self.cte(name) {
                    scope.names.push((key, b));
                } else if args.is_some() {
                    scope.names.push((key, Binding::Opaque));
                } else {
                    let i = self.push_access(name, alias_name);
                    scope.names.push((key, Binding::Table(i)));
                }
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                // LATERAL subqueries may reference the tables before them.
                self.scopes.push(Scope {
                    names: scope.names.clone(),
                });
                let through = self.query(subquery, false);
                self.scopes.pop();
                if let Some(a) = alias {
                    let b = match through {
                        Some(i) if a.columns.is_empty() => Binding::Table(i),
                        _ => Binding::Opaque,
                    };
                    scope.names.push((a.name.value.clone(), b));
                }
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                self.add_from(table_with_joins, scope);
                self.scopes.push(Scope {
                    names: scope.names.clone(),
                });
                for j in &table_with_joins.joins {
                    if let Some(JoinConstraint::On(on)) = join_constraint(&j.join_operator) {
                        self.conjuncts(on);
                    }
                }
                self.scopes.pop();
            }
            other => {
                // Table functions, UNNEST, ...: their arguments may read columns.
                let _ = other.visit(&mut Collector::walking(self));
            }
        }
    }

    fn select_item(&mut self, item: &SelectItem) {
        match item {
            SelectItem::UnnamedExpr(e)
            | SelectItem::ExprWithAlias { expr: e, .. }
            | SelectItem::ExprWithAliases { expr: e, .. } => self.read_columns(e),
            SelectItem::Wildcard(_) => {
                for i in self.scopes.last().map(Scope::tables).unwrap_or_default() {
                    self.accesses[i].selected.push("*".into());
                }
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _) => {
                if let Some(Binding::Table(i)) = self.lookup(&last_part(n)) {
                    self.accesses[i].selected.push("*".into());
                }
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(e), _) => {
                self.read_columns(e)
            }
        }
    }

    /// `aliases`: output column names, which ORDER BY prefers over input columns.
    fn order_by(&mut self, exprs: &[OrderByExpr], aliases: &HashSet<String>) {
        let mut keys = Vec::new();
        let mut table = None;
        let mut whole = true;
        for e in exprs {
            if matches!(&e.expr, Expr::Identifier(id) if aliases.contains(&id.value)) {
                whole = false;
                continue;
            }
            self.read_columns(&e.expr);
            match self.column(&e.expr) {
                Some(Col::At(i, column)) if table.is_none_or(|t| t == i) => {
                    table = Some(i);
                    keys.push(OrderKey {
                        column,
                        desc: matches!(e.options.sort, Some(OrderBySort::Desc)),
                        nulls_first: e.options.nulls_first,
                    });
                }
                _ => whole = false,
            }
        }
        if let (true, Some(i)) = (whole, table) {
            self.accesses[i].order_by = keys;
        }
    }

    fn lookup(&self, qualifier: &str) -> Option<Binding> {
        self.scopes.iter().rev().find_map(|s| {
            s.names
                .iter()
                .rev()
                .find(|(n, _)| n == qualifier)
                .map(|(_, b)| *b)
        })
    }

    /// A bare or qualified column, resolved; None for anything else.
    pub(super) fn column(&self, e: &Expr) -> Option<Col> {
        match e {
            Expr::Identifier(id) => {
                let scope = self.scopes.last()?;
                if scope.names.len() == 1 {
                    return Some(match scope.names[0].1 {
                        Binding::Table(i) => Col::At(i, id.value.clone()),
                        Binding::Opaque => Col::Opaque,
                    });
                }
                let tables = scope.tables();
                match tables.len() {
                    0 => Some(Col::Opaque),
                    _ => Some(Col::Ambiguous(tables, id.value.clone())),
                }
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let qual = &parts[parts.len() - 2].value;
                let column = parts[parts.len() - 1].value.clone();
                Some(match self.lookup(qual) {
                    Some(Binding::Table(i)) => Col::At(i, column),
                    _ => Col::Opaque,
                })
            }
            Expr::Nested(inner) => self.column(inner),
            _ => None,
        }
    }

    /// Columns of `e` outside subqueries, resolved; subqueries are walked as queries.
    pub(super) fn columns_in(&mut self, e: &Expr) -> Vec<Col> {
        let mut c = Collector::walking(self);
        let _ = e.visit(&mut c);
        let columns = c.columns;
        columns.iter().filter_map(|x| self.column(x)).collect()
    }

    /// Record the columns `e` reads as `selected` of their tables.
    fn read_columns(&mut self, e: &Expr) {
        for c in self.columns_in(e) {
            self.mark_read(c);
        }
    }

    /// Leave an unqualified column for `resolve` to attribute: to one of `candidates` (the
    /// innermost scope), else to the nearest enclosing scope that has it.
    pub(super) fn defer(&mut self, candidates: Vec<usize>, column: String, role: UnattributedRole) {
        let n = self.scopes.len().saturating_sub(1);
        let outer = self.scopes[..n]
            .iter()
            .rev()
            .map(Scope::tables)
            .filter(|t| !t.is_empty())
            .collect();
        self.unattributed.push(Unattributed {
            candidates,
            column,
            role,
            outer,
        });
    }

    pub(super) fn mark_read(&mut self, c: Col) {
        match c {
            Col::At(i, name) => self.accesses[i].selected.push(name),
            Col::Ambiguous(candidates, column) => {
                self.defer(candidates, column, UnattributedRole::Selected);
            }
            Col::Opaque => {}
        }
    }
}

/// Collects the column expressions of an expression, not descending into subqueries, which
/// it walks as queries of their own scope when it has the walker (a subquery is walked where
/// it is met, never copied out of the tree).
#[derive(Default)]
pub(super) struct Collector<'w> {
    walker: Option<&'w mut Walker>,
    depth: usize,
    pub(super) columns: Vec<Expr>,
}

impl<'w> Collector<'w> {
    fn walking(walker: &'w mut Walker) -> Self {
        Collector {
            walker: Some(walker),
            ..Default::default()
        }
    }
}

impl Visitor for Collector<'_> {
    type Break = ();
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            if let Some(w) = self.walker.as_deref_mut() {
                w.query(q, false);
            }
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth == 0 && matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            self.columns.push(e.clone());
        }
        ControlFlow::Continue(())
    }
}

/// Names given to output columns with AS (`count(*) AS n`).
fn output_aliases(s: &Select) -> HashSet<String> {
    s.projection
        .iter()
        .filter_map(|p| match p {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn dedup(v: &mut Vec<String>) {
    let mut seen = HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
}
