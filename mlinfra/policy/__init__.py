"""Policy rules over the resource graph, evaluated offline and by the CrossGuard pack."""
