"""Protocol layer, shared by both front ends: statuses, types, checks, the Predict pipeline."""
