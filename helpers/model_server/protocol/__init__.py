"""Protocol layer, shared by both front ends: the wire constants, statuses, element types,
signatures and checks."""
