namespace DockerProxy.Relay.Multi;

/// <summary>A mapping and where it was written, for messages: <c>-map "tcp:..."</c> or <c>FILE line N</c>.</summary>
internal sealed record MappingEntry(Mapping Mapping, string Origin);
