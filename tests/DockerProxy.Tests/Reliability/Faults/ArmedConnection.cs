namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>A hostile connection to come: when the backend accepted it, and when its behaviour ended.</summary>
internal sealed record ArmedConnection(Task Accepted, Task Finished);
