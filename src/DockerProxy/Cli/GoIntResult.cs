namespace DockerProxy.Cli;

/// <summary>Outcome of Go's strconv.ParseInt: a value, a syntax error, or a range error.</summary>
internal enum GoIntResult
{
    Ok,
    Syntax,
    OutOfRange,
}
