"""Clinical vocabulary (concepts, terms, hierarchy, Spanish names), its recognizer and ConText."""
