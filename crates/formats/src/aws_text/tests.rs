use super::*;
use crate::ChunkFormat;
use arrow::array::AsArray;

fn chunk(data: &str, fields: Option<Vec<String>>) -> Chunk {
    Chunk {
        source: "s".into(),
        object: "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2024/01/01/x.log.gz".into(),
        format: ChunkFormat::AwsText,
        offset: 0,
        first_line: 10,
        fields,
        seq: 0,
        data: data.as_bytes().to_vec(),
    }
}

#[test]
fn header_defaults_nulls_and_dead_letters() {
    let text = "srcaddr dstaddr start end log-status flow-direction\n\
                10.0.0.1 10.0.0.2 1418530010 1418530070 OK egress\n\
                - - 1418530010 1418530070 NODATA -\n\
                10.0.0.1 x.y 1418530010 1418530070 OK egress\n\
                10.0.0.1 10.0.0.2 1418530010\n";
    let out = parse_chunk(&chunk(text, None), &ParseOptions::default());
    assert_eq!(out.len(), 1);
    let p = &out[0];
    assert_eq!(p.batch.num_rows(), 2);
    assert_eq!(
        (
            p.stats.records,
            p.stats.nodata,
            p.stats.rejected,
            p.stats.lines_read
        ),
        (2, 1, 2, 5)
    );
    let acct = p.batch.column(Col::AccountId as usize).as_string::<i32>();
    assert_eq!(acct.value(0), "111122223333"); // from the key
    let dir = p.batch.column(Col::Direction as usize).as_string::<i32>();
    assert_eq!(dir.value(0), "egress");
    assert!(p.batch.column(Col::SrcAddr as usize).is_null(1));
    assert_eq!(p.dead_letters[0].kind, "bad_value");
    assert_eq!(p.dead_letters[0].line, Some(13));
    assert!(p.dead_letters[0].reason.contains("dst_addr"));
    assert_eq!(p.dead_letters[1].kind, "field_count");
    assert_eq!(p.dead_letters[1].line, Some(14));
}

#[test]
fn chunk_fields_and_unknown_names() {
    let fields = Some(vec!["srcport".to_string(), "dstport".to_string()]);
    let text = "1 2\n\n# c\nsrcport foo-bar dstport\n3 x 4\n";
    let p = &parse_chunk(&chunk(text, fields), &ParseOptions::default())[0];
    assert_eq!(p.batch.num_rows(), 2);
    assert_eq!(p.stats.unknown_fields, 1);
    let bad_utf8 = chunk("1 \u{0}2\n", None);
    let mut bad = bad_utf8.clone();
    bad.data = b"2 1 eni \xff\xfe".to_vec();
    let p = &parse_chunk(&bad, &ParseOptions::default())[0];
    assert_eq!(p.dead_letters[0].kind, "bad_utf8");
}

#[test]
fn batches_respect_batch_rows() {
    let text: String = (0..10).map(|i| format!("{i} 1\n")).collect();
    let opts = ParseOptions {
        batch_rows: 3,
        aws_default_fields: vec!["srcport".into(), "dstport".into()],
        ..ParseOptions::default()
    };
    let out = parse_chunk(&chunk(&text, None), &opts);
    let sizes: Vec<usize> = out.iter().map(|p| p.batch.num_rows()).collect();
    assert_eq!(sizes, vec![3, 3, 3, 1]);
}
