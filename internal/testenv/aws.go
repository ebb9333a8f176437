package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/objstore"
)

// Profile is the component set the end-to-end suite runs against:
// "local" (components/local: Redis, versitygw) or "aws" (components/aws:
// SNS/SQS, DynamoDB and S3, on the moto emulator). E2E_PROFILE selects it.
func Profile() string {
	if p := os.Getenv("E2E_PROFILE"); p != "" {
		return p
	}
	return "local"
}

// motoServer finds the moto emulator: $MOTO_SERVER, or moto_server on
// PATH. It comes with the machine image (PyPI is not reachable from the
// machines the project runs on); scripts/infra.sh says whether it is there.
func motoServer() string {
	if p := os.Getenv("MOTO_SERVER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p
	}
	return ""
}

// AWSEmulator is a moto server with the resources components/aws expects.
type AWSEmulator struct {
	Endpoint, Bucket, Table string
}

// Env is what the AWS test profile supplies: endpoints and throwaway
// credentials, nothing else.
func (e AWSEmulator) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT":          e.Endpoint,
		"S3_ENDPOINT":           e.Endpoint,
		"S3_PATH_STYLE":         "true",
		"S3_BUCKET":             e.Bucket,
		"DYNAMODB_TABLE":        e.Table,
		"AWS_REGION":            "us-east-1",
		"AWS_ACCESS_KEY_ID":     "testing",
		"AWS_SECRET_ACCESS_KEY": "testing",
	}
}

// StartAWSEmulator starts moto_server on a free port and creates the bucket
// (with CORS) and the DynamoDB table. Without moto the test is skipped, loudly.
func StartAWSEmulator(t testing.TB) AWSEmulator {
	t.Helper()
	bin := motoServer()
	if bin == "" {
		SkipRequired(t, "AWS PROFILE SKIPPED: moto_server is not on PATH (it comes with the machine image; "+
			"pip install 'moto[server]' where PyPI is reachable). The end-to-end suite did NOT run against components/aws.")
	}
	port := FreePort(t)
	Start(t, exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port)), "moto_server")
	e := AWSEmulator{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), Bucket: "intellidox", Table: "intellidox-scanresults"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(e.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := context.Background()
	st, err := objstore.New(ctx, objstore.Config{Bucket: e.Bucket, Endpoint: e.Endpoint, PathStyle: true,
		Region: "us-east-1", AccessKey: "testing", SecretKey: "testing"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(ctx, []string{"*"}); err != nil {
		t.Fatalf("create bucket on moto: %v", err)
	}
	ddb := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if _, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(e.Table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("key"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("key"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("create table on moto: %v", err)
	}
	if _, err := ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(e.Table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expiresAt"), Enabled: aws.Bool(true)}}); err != nil {
		t.Fatalf("enable ttl on moto: %v", err)
	}
	// The archive password key, where components/aws's secret store
	// (AWS Secrets Manager) finds it.
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(contract.ArchivePasswordsKey), SecretString: aws.String(newSealKey()),
	}); err != nil {
		t.Fatalf("create the archive password key on moto: %v", err)
	}
	return e
}

// NotifyStorageEvents creates bucket and sends its ObjectCreated events to
// the SNS topic storage-events, which components/aws/storage.yaml's queue
// subscribes to: the S3 bucket notification docs/storage-events.md asks
// operators to configure. (The api's sidecar creates the topic when it
// subscribes; moto publishes each event to it then.)
func (e AWSEmulator) NotifyStorageEvents(t testing.TB, bucket string) {
	t.Helper()
	ctx := context.Background()
	c := S3Client(t, e.S3())
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s on moto: %v", bucket, err)
	}
	_, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{TopicConfigurations: []s3types.TopicConfiguration{{
			TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:" + contract.TopicStorageEvents),
			Events:   []s3types.Event{"s3:ObjectCreated:*"},
		}}},
	})
	if err != nil {
		t.Fatalf("bucket notification on moto: %v", err)
	}
}

// S3 returns the emulator's S3 as an S3 description.
func (e AWSEmulator) S3() S3 {
	return S3{Endpoint: e.Endpoint, Bucket: e.Bucket, AccessKey: "testing", SecretKey: "testing"}
}

func (e AWSEmulator) String() string { return fmt.Sprintf("moto at %s", e.Endpoint) }
