"""The serve front: Spin's HTTP routing as a component `kvbatch serve` composes in front of a served one."""
