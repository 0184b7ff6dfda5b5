"""Text ↔ AST: the grammar's parser, the AST builder, the AST nodes and ``fmt``'s unparser."""
