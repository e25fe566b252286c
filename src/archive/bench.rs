//! `dbopt bench archive`: measured later in this file.
