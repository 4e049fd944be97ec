namespace DockerProxy.Cli;

/// <summary>How log events are written to stderr.</summary>
internal enum LogFormat
{
    Text,
    Json,
}
