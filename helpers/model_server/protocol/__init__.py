"""Protocol layer, shared by both front ends: statuses, element types, signatures and checks."""
