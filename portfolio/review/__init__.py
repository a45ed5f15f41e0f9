"""Supervisors' review: the queue, decisions per competence, supervision notes, their team."""
